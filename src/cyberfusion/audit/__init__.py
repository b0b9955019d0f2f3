"""Tamper-evident audit log: one entry per state change, chained with SHA-256."""
