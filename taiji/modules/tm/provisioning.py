"""Tenant provisioning as a saga of TM's own local steps (``taiji.platform.tx.local``).

Creating a tenant is several changes — the tenant row, the owner's membership and role binding,
the announcement (audit entry and ``tm.tenant.created``) — and the modules coming next add more
(default environments, registries, namespaces) that live outside this database. Each change is
a step with its compensation, so a failure half-way is undone step by step and a step that
cannot be undone by itself waits in the transaction console (platform administration) for a
person, with its call log and one-click recovery, instead of leaving a half-made tenant.

The saga runs inline, in the request that asks for the tenant (``inline.submit_and_run``): the
tenant is usable as soon as ``create_tenant`` returns, as before. A step whose outcome is unknown
(an unexpected error) is retried by the worker; the request then answers 503 and names the
transaction.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.platform import audit, events
from taiji.platform.auth import TenantRole
from taiji.platform.db import db
from taiji.platform.errors import Conflict, ServiceError, msg
from taiji.platform.tenancy import Tenant, tenant_by_slug
from taiji.platform.tx import inline
from taiji.platform.tx import services as tx
from taiji.platform.tx.local import LocalStep, StepRefused, target
from taiji.platform.tx.models import ROLLED_BACK, SAGA, SUCCEEDED

from .models import Member

TENANT_ROW = "tm.tenant_row"
OWNER = "tm.tenant_owner"
ANNOUNCE = "tm.tenant_announce"
# Compensations of a tenant's creation are retried briefly in the request, then by the worker.
OPTIONS = {"action_retries": 2, "retries": 3, "backoff": 0.2, "backoff_max": 5.0, "redo_backoff": 60.0}


class ProvisioningPending(ServiceError):
    status = 503
    title = "Service Unavailable"


def _tenant(payload: dict) -> Tenant | None:
    return tenant_by_slug(payload["slug"])


def create_row(payload: dict) -> dict:
    if _tenant(payload) is not None:
        # Taken between the request's check and this step (another request won the race).
        raise StepRefused(f"the slug '{payload['slug']}' is taken")
    tenant = Tenant(slug=payload["slug"], name=payload["name"])
    db.session.add(tenant)
    db.session.flush()
    return {"tenant_id": tenant.id}


def remove_row(payload: dict) -> dict:
    tenant = _tenant(payload)
    if tenant is None:
        return {"removed": False}
    # Members, role bindings and everything else of the tenant go with it (ON DELETE CASCADE).
    db.session.execute(sa.delete(Tenant).where(Tenant.id == tenant.id))
    return {"removed": True}


def add_owner(payload: dict) -> dict:
    from . import services

    tenant = _tenant(payload)
    if tenant is None:
        raise StepRefused(f"no tenant '{payload['slug']}' to add the owner to")
    if iam.get_user(payload["owner_id"]) is None:
        raise StepRefused("the owner's account no longer exists")
    services._add_member(tenant, payload["owner_id"], TenantRole.OWNER, invited_by_id=None)
    return {"user_id": payload["owner_id"]}


def remove_owner(payload: dict) -> dict:
    tenant = _tenant(payload)
    if tenant is None:
        return {"removed": False}
    user_id = payload["owner_id"]
    db.session.execute(sa.delete(Member).where(Member.tenant_id == tenant.id, Member.user_id == user_id))
    iam.remove_tenant_roles(user_id, tenant)
    user = iam.get_user(user_id)
    if user is not None:
        audit.record("tm.member.removed", "member", user.email, tenant=tenant,
                     details={"role": str(TenantRole.OWNER), "reason": "tenant creation undone"})
        events.publish("tm.member.removed", {"tenant": tenant.slug, "tenant_id": tenant.id,
                                              "user_id": user_id, "email": user.email}, tenant=tenant)
    db.session.flush()
    return {"removed": True}


def announce(payload: dict) -> dict:
    tenant = _tenant(payload)
    if tenant is None:
        raise StepRefused(f"no tenant '{payload['slug']}' to announce")
    audit.record("tm.tenant.created", "tenant", tenant.slug, tenant=tenant, details={"name": tenant.name})
    events.publish("tm.tenant.created", {"tenant": tenant.slug, "tenant_id": tenant.id, "name": tenant.name,
                                          "owner_id": payload["owner_id"]}, tenant=tenant)
    return {"tenant_id": tenant.id}


STEPS = [
    LocalStep(TENANT_ROW, action=create_row, compensate=remove_row),
    LocalStep(OWNER, action=add_owner, compensate=remove_owner),
    # Last, so it runs only once everything else is in place; nothing to undo after it.
    LocalStep(ANNOUNCE, action=announce),
]


def saga_steps(slug: str, name: str, owner_id: int) -> list[dict]:
    payload = {"slug": slug, "name": name, "owner_id": owner_id}
    return [
        {"name": "tenant", "action": target(TENANT_ROW), "compensate": target(TENANT_ROW),
         "payload": payload},
        {"name": "owner", "action": target(OWNER), "compensate": target(OWNER), "payload": payload},
        {"name": "announce", "action": target(ANNOUNCE), "payload": payload},
    ]


def provision(slug: str, name: str, owner_id: int, *, created_by: str | None = None) -> Tenant:
    """Run the tenant's creation saga here and now; the tenant once it succeeded.

    This commits the caller's unit of work (the saga's steps each commit their own). Raises
    ``Conflict`` when a step refused (everything done is undone by then) and
    ``ProvisioningPending`` (503) when the saga waits for a retry or a person.
    """
    gid = f"tm-tenant-{slug}-{uuid.uuid4().hex[:8]}"
    progress = inline.submit_and_run(SAGA, saga_steps(slug, name, owner_id), gid=gid,
                                     business_key=f"tenant:{slug}", options=OPTIONS, created_by=created_by)
    state = progress.state if progress is not None else None
    if state == SUCCEEDED:
        tenant = tenant_by_slug(slug)
        if tenant is not None:
            return tenant
    transaction = tx.get_transaction(gid)
    if state == ROLLED_BACK:
        raise Conflict(msg("The tenant '%(slug)s' could not be created: %(transaction_last_error)s",
                           slug=slug, transaction_last_error=transaction.last_error),
                       errors={"json": {"slug": [transaction.last_error or "Refused."]}})
    raise ProvisioningPending(
        msg("Creating the tenant '%(slug)s' did not finish; transaction %(gid)s goes on in the background "
            "(Administration → Transactions).", slug=slug, gid=gid))
