"""Permissions of the OpenID Connect provider."""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext as _l

from taiji.platform.auth import PlatformRole


class OAuthPerm(enum.StrEnum):
    CLIENT_WRITE = "iam:client:write"

    @property
    def description(self) -> str:
        return {"iam:client:write": _l("Register, list, rotate and delete OAuth/OIDC clients")}[self.value]


TENANT_GRANTS: dict[str, set[str]] = {}
# Only platform administrators, who hold every permission (auth.PermissionCatalog).
PLATFORM_GRANTS = {PlatformRole.USER: set()}
