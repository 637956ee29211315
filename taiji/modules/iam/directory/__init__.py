"""Sign-in through a tenant's upstream LDAP directory."""

from __future__ import annotations

from .api import blp as api_blp
from .views import bp

__all__ = ["api_blp", "bp"]
