"""Intelligence records: immutable STIX 2.1 object versions with their labels and evaluation."""
