"""Observables: typed, normalised selectors (IP, domain, URL, hash, phone, wallet, ...)."""
