"""Notifications addressed to organisations (hits on their records, deconfliction, products)."""
