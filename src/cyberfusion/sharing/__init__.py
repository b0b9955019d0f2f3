"""The sharing model: labels (TLP 2.0, audience, handling, evaluation) and the one read filter."""
