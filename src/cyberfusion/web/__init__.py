"""The analyst web UI: server-rendered pages (Jinja2, htmx) in four languages, login with TOTP."""
