"""Counts words in text: the second service of the Taiji demo product."""

__version__ = "0.1.0"
