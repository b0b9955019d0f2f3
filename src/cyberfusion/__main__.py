"""Allow `python -m cyberfusion`."""

from cyberfusion.cli import app

app()
