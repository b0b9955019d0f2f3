"""Export: what an actor may read, as a STIX 2.1 bundle, a MISP event or CSV."""
