"""Events TM publishes (``tm.tenant.created``, ``tm.member.added``, ``tm.member.removed``, via
its services) and the handlers it subscribes."""

from __future__ import annotations

from taiji.platform.events import Event
from taiji.platform.module import EventSpec

from . import services

# Published by IAM when an upstream directory signs someone into a tenant for the first time.
DIRECTORY_MEMBER_JOINED = "iam.directory.member_joined"


def record_directory_member(event: Event) -> None:
    """Give a person admitted by the tenant's directory a row in the member list (idempotent)."""
    services.record_member(event.payload["tenant_id"], event.payload["user_id"], event.payload["role"])


HANDLERS = {DIRECTORY_MEMBER_JOINED: [record_directory_member]}

_TENANT = {"tenant": str, "tenant_id": int}
PUBLISHED = [
    EventSpec("tm.tenant.created", {**_TENANT, "name": str, "owner_id": (int, None)}),
    EventSpec("tm.tenant.suspended", _TENANT),
    EventSpec("tm.tenant.reactivated", _TENANT),
    EventSpec("tm.member.added", {**_TENANT, "user_id": int, "email": str, "role": str}),
    EventSpec("tm.member.removed", {**_TENANT, "user_id": int, "email": str}),
]
