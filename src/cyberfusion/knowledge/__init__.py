"""Reference knowledge: MISP galaxies (malware, threat actors, tools, attack patterns) as TLP:CLEAR
objects owned by the hub, and the aliases that resolve any of their names to one family."""
