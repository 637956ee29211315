"""IAM's OpenID Connect provider: Taiji signs people in to its console and to other tools.

``module_parts`` below is what ``taiji.modules.iam`` registers; ``setup`` runs after IAM's own.
"""

from __future__ import annotations

from . import cli, endpoints
from .api import blp as api_blp
from .endpoints import CSRF_EXEMPT, bp
from .permissions import PLATFORM_GRANTS, TENANT_GRANTS, OAuthPerm
from .views import bp as console_bp

PERMISSIONS = (OAuthPerm, TENANT_GRANTS, PLATFORM_GRANTS)
# The relying parties' endpoints: they authenticate the client, never with the session cookie.
CSRF_EXEMPT_VIEWS = [getattr(endpoints, name) for name in CSRF_EXEMPT]
CLI_COMMANDS = [cli.clients, cli.keys]  # `taiji clients …`, `taiji keys …`


def setup(app) -> None:
    """Let OAuth access tokens call the REST API."""
    from taiji.platform import auth

    from . import services

    auth.registry.bearer_loader = services.wrap_bearer_loader(auth.registry.bearer_loader)


__all__ = ["CLI_COMMANDS", "CSRF_EXEMPT_VIEWS", "PERMISSIONS", "OAuthPerm", "api_blp", "bp", "console_bp",
           "setup"]
