"""A tiny HTTP greeting service (standard library only)."""

__version__ = "0.1.0"
