"""Custom tenant roles, groups and role bindings (API, console pages, permissions)."""

from __future__ import annotations

from .api import blp as api_blp
from .permissions import PERMISSIONS, Perm
from .views import bp

__all__ = ["PERMISSIONS", "Perm", "api_blp", "bp"]
