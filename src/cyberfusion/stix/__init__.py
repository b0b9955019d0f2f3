"""STIX 2.1: the validation gate, the 2.0 -> 2.1 upgrade and STIX patterns."""
