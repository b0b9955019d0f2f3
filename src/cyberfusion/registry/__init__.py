"""Member registry: regions, member countries and organisations."""
