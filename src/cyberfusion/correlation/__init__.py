"""Correlation: who else reported a value, what it implies, corroboration, notices and the graph."""
