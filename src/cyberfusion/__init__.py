"""cyberfusion: a cyber threat intelligence fusion platform for law enforcement."""

__version__ = "0.1.0"
