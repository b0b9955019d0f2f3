"""Cross-cutting infrastructure: configuration, database, errors, time."""
