"""Runners execute jobs; a pipeline's jobs name their runner pool (only `builtin` today)."""

from __future__ import annotations

from .base import Runner, get_runner, register_runner

__all__ = ["Runner", "get_runner", "register_runner"]
