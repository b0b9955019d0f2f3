"""Feeds: intelligence pulled in on a schedule (TAXII, MISP feeds, CSV lists) and served out
(blocklists and a MISP feed)."""
