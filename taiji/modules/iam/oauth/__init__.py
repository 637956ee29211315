"""IAM's OpenID Connect provider: Taiji signs people in to its console and to other tools.

``module_parts`` below is what ``taiji.modules.iam`` registers; ``setup`` runs after IAM's own.
"""

from __future__ import annotations

from .api import blp as api_blp
from .endpoints import CSRF_EXEMPT, bp
from .permissions import PLATFORM_GRANTS, TENANT_GRANTS, OAuthPerm
from .views import bp as console_bp

PERMISSIONS = (OAuthPerm, TENANT_GRANTS, PLATFORM_GRANTS)


def setup(app) -> None:
    """Exempt the relying-party endpoints from CSRF; let OAuth access tokens call the REST API."""
    from taiji.platform import auth
    from taiji.platform.app import csrf

    from . import endpoints, services

    for name in CSRF_EXEMPT:
        csrf.exempt(getattr(endpoints, name))
    auth.registry.bearer_loader = services.wrap_bearer_loader(auth.registry.bearer_loader)


__all__ = ["PERMISSIONS", "OAuthPerm", "api_blp", "bp", "console_bp", "setup"]
