"""The analyst web shell: server-rendered pages (Jinja2), login with password and TOTP."""
