"""The demo world: every member country, the hub, desks, partners, one user of each role."""
