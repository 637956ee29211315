"""Sign-in through a tenant's upstream LDAP directory, and the email domains it may sign in."""

from __future__ import annotations

from .api import admin_blp
from .api import blp as api_blp
from .views import admin_bp, bp

__all__ = ["admin_blp", "admin_bp", "api_blp", "bp"]
