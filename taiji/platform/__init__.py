"""The kernel every module builds on; it imports no module."""
