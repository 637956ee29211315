"""Invitations: the only way into a tenant over HTTP. A person becomes a member by accepting
one, through its link or from the list of their own pending invitations (console and API).

Public through ``services`` (which re-exports these), as every TM function is to other modules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from taiji.modules.iam import services as iam
from taiji.platform import audit, quotas
from taiji.platform.auth import Principal
from taiji.platform.db import Page, db, paginate, utcnow
from taiji.platform.errors import Conflict, Forbidden, NotFound
from taiji.platform.tenancy import Tenant

from . import services as members
from .models import Invitation


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/invitations/{token}"


def invite(tenant: Tenant, email: str, role: str, *, actor: Principal) -> tuple[Invitation, str]:
    """Invite by email; returns the invitation and its token (shown once, stored hashed).

    The only way into a tenant over HTTP: the person becomes a member when they accept. The
    answer is the same whether the address has an account or not, so inviting tells the
    inviter nothing about who uses the platform. Inviting the same address again replaces the
    pending invitation with a fresh link.
    """
    email = iam.normalize_email(email)
    members._check_role_grant(tenant, role, actor)
    existing_user = iam.get_user_by_email(email)
    if existing_user is not None and members._member_row(tenant, existing_user.id) is not None:
        raise Conflict(f"{email} is already a member.", errors={"json": {"email": ["Already a member."]}})
    quotas.check(tenant, members.MEMBERS_METER)
    now = utcnow()
    for old in db.session.execute(
        sa.select(Invitation).where(Invitation.tenant_id == tenant.id, Invitation.email == email,
                                    Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    ).scalars():
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    ttl = dt.timedelta(hours=current_app.config["INVITATION_TTL_HOURS"])
    invitation = Invitation(tenant_id=tenant.id, email=email, role=role, token_hash=_hash(token),
                            created_by_id=actor.user_id, expires_at=now + ttl)
    db.session.add(invitation)
    db.session.flush()
    audit.record("tm.invitation.created", "invitation", email, tenant=tenant, details={"role": role})
    return invitation, token


def list_invitations(tenant: Tenant, *, pending_only: bool = True, page: int = 1,
                     page_size: int = 20) -> Page[Invitation]:
    stmt = sa.select(Invitation).where(Invitation.tenant_id == tenant.id)
    if pending_only:
        stmt = stmt.where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
                          Invitation.expires_at > utcnow())
    return paginate(stmt.order_by(Invitation.created_at.desc(), Invitation.id.desc()), page, page_size)


def revoke_invitation(tenant: Tenant, invitation_id: int) -> None:
    invitation = db.session.execute(
        sa.select(Invitation).where(Invitation.tenant_id == tenant.id, Invitation.id == invitation_id)
    ).scalar_one_or_none()
    if invitation is None:
        raise NotFound(f"No invitation {invitation_id}.")
    if invitation.state(utcnow()) != "pending":
        raise Conflict(f"The invitation is {invitation.state(utcnow())}; only a pending one can be revoked.")
    invitation.revoked_at = utcnow()
    audit.record("tm.invitation.revoked", "invitation", invitation.email, tenant=tenant)
    db.session.flush()


@dataclass
class InvitationView:
    invitation: Invitation
    tenant: Tenant
    state: str


def find_invitation(token: str) -> InvitationView:
    invitation = db.session.execute(
        sa.select(Invitation).where(Invitation.token_hash == _hash(token))
    ).scalar_one_or_none()
    if invitation is None:
        raise NotFound("This invitation link is not valid. Ask for a new one.")
    tenant = db.session.get(Tenant, invitation.tenant_id)
    return InvitationView(invitation, tenant, invitation.state(utcnow()))


_NOT_PENDING = {"accepted": "This invitation was already accepted.",
                "declined": "This invitation was declined. Ask for a new one.",
                "revoked": "This invitation was withdrawn. Ask for a new one.",
                "expired": "This invitation has expired. Ask for a new one."}


def accept_invitation(token: str, user_id: int) -> Tenant:
    """The signed-in user accepts through the link; the invitation's email must be theirs."""
    view = find_invitation(token)
    if view.state != "pending":
        raise Conflict(_NOT_PENDING[view.state])
    user = iam.get_user(user_id)
    if user.email != view.invitation.email:
        raise Forbidden(f"This invitation is for {view.invitation.email}; you are signed in as {user.email}.")
    return _accept(view.invitation, view.tenant, user)


def pending_invitations_for(user_id: int) -> list[InvitationView]:
    """Invitations waiting for this user's answer (addressed to their email), newest first."""
    user = iam.get_user(user_id)
    if user is None:
        return []
    rows = db.session.execute(
        sa.select(Invitation, Tenant).join(Tenant, Tenant.id == Invitation.tenant_id)
        .where(*_pending_for(user.email))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    ).all()
    return [InvitationView(invitation, tenant, "pending") for invitation, tenant in rows]


def count_pending_invitations(email: str) -> int:
    """How many invitations wait for the account with this email (the console's badge)."""
    return db.session.execute(
        sa.select(sa.func.count(Invitation.id)).where(*_pending_for(email))
    ).scalar_one()


def _pending_for(email) -> tuple:
    return (Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
            Invitation.declined_at.is_(None), Invitation.expires_at > utcnow())


def _my_invitation(invitation_id: int, user_id: int) -> tuple[Invitation, Tenant, object]:
    """One of the user's own invitations; anyone else's is unknown (404), as if it did not exist."""
    user = iam.get_user(user_id)
    row = db.session.execute(
        sa.select(Invitation, Tenant).join(Tenant, Tenant.id == Invitation.tenant_id)
        .where(Invitation.id == invitation_id, Invitation.email == user.email)
    ).first()
    if row is None:
        raise NotFound(f"No invitation {invitation_id} for you.")
    invitation, tenant = row
    state = invitation.state(utcnow())
    if state != "pending":
        raise Conflict(_NOT_PENDING[state])
    return invitation, tenant, user


def accept_my_invitation(invitation_id: int, user_id: int) -> Tenant:
    """Accept from the console's or the API's list of one's own invitations (no link needed)."""
    invitation, tenant, user = _my_invitation(invitation_id, user_id)
    return _accept(invitation, tenant, user)


def decline_my_invitation(invitation_id: int, user_id: int) -> None:
    invitation, tenant, user = _my_invitation(invitation_id, user_id)
    invitation.declined_at = utcnow()
    audit.record("tm.invitation.declined", "invitation", invitation.email, tenant=tenant, actor=user)
    db.session.flush()


def _accept(invitation: Invitation, tenant: Tenant, user) -> Tenant:
    user_id = user.id
    if not tenant.is_active:
        raise Conflict(f"The tenant '{tenant.slug}' is suspended.")
    if members._member_row(tenant, user_id) is None:
        members._add_member(tenant, user_id, invitation.role, invited_by_id=invitation.created_by_id)
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user_id
    audit.record("tm.invitation.accepted", "invitation", invitation.email, tenant=tenant, actor=user)
    db.session.flush()
    return tenant


def register_and_accept(token: str, name: str, password: str):
    """Create the account for an invited address that has none yet, then accept."""
    view = find_invitation(token)
    if view.state != "pending":
        raise Conflict(f"This invitation is {view.state}.")
    if iam.get_user_by_email(view.invitation.email) is not None:
        raise Conflict("An account with this email exists; sign in to accept.")
    user = iam.create_user(view.invitation.email, name, password)
    accept_invitation(token, user.id)
    return user, view.tenant
