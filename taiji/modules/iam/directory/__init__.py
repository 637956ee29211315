"""Sign-in through a tenant's upstream LDAP directory."""

from __future__ import annotations

from .api import blp as api_blp

__all__ = ["api_blp"]
