"""IAM's OpenID Connect provider: Taiji signs people in to its console and to other tools.

What ``taiji.modules.iam`` registers of it is below; ``bearer_loader`` makes IAM's bearer loader.
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


def bearer_loader(personal_tokens):
    """IAM's bearer loader: ``personal_tokens`` for personal access tokens, and OAuth access tokens
    (which may call the REST API)."""
    from . import services

    return services.wrap_bearer_loader(personal_tokens)


__all__ = ["CLI_COMMANDS", "CSRF_EXEMPT_VIEWS", "PERMISSIONS", "OAuthPerm", "api_blp", "bearer_loader", "bp",
           "console_bp"]
