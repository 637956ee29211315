"""Invitations: the only way into a tenant over HTTP. A person becomes a member by accepting
one, through its link or from the list of their own pending invitations (console and API).

An invitation is addressed to an email, and only the address's owner may answer it. Whoever
holds an account for the address is its owner only once the address is verified (IAM's
``verification.py``): otherwise anyone handed an invitation link to an address nobody uses yet
could make that account and collect every later invitation to it. So:

- with a mail server (``TAIJI_SMTP_URL``) the link goes by mail to the address only, never to
  the inviter; opening it proves the mailbox, and registering or accepting through it verifies
  the address;
- without one the inviter is given the link to pass on; an account made through it is not
  verified, and may accept only the invitation it registered through;
- any other invitation needs a verified address, and until then its details are not shown.

Public through ``services`` (which re-exports these), as every TM function is to other modules.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from taiji.modules.iam import services as iam
from taiji.platform import audit, mail, quotas
from taiji.platform.auth import Principal
from taiji.platform.db import Page, db, paginate, utcnow
from taiji.platform.errors import Conflict, Forbidden, NotFound, msg
from taiji.platform.tenancy import Tenant

from . import services as members
from .models import Invitation

MAIL = "mail"
LINK = "link"


class UnverifiedEmail(Forbidden):
    """The account's address is not proven to be its owner's, so it cannot answer invitations
    (besides the one it registered through)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return f"{current_app.config['BASE_URL']}/invitations/{token}"


def invite(tenant: Tenant, email: str, role: str, *,
           actor: Principal) -> tuple[Invitation, str | None]:
    """Invite by email; returns the invitation and, when it is the inviter's to pass on, its token
    (shown once, stored hashed).

    The only way into a tenant over HTTP: the person becomes a member when they accept. The
    answer is the same whether the address has an account or not, so inviting tells the
    inviter nothing about who uses the platform. Inviting the same address again replaces the
    pending invitation with a fresh link.

    With a mail server the link is mailed to the address and the token is not returned: nobody
    but the mailbox's owner can then hold it, which is what lets registering through it verify
    the address.
    """
    email = iam.normalize_email(email)
    members._check_role_grant(tenant, role, actor)
    existing_user = iam.get_user_by_email(email)
    if existing_user is not None and members._member_row(tenant, existing_user.id) is not None:
        raise Conflict(msg("%(email)s is already a member.",
                           email=email), errors={"json": {"email": [msg("Already a member.")]}})
    quotas.check(tenant, members.MEMBERS_METER)
    now = utcnow()
    for old in db.session.execute(
        sa.select(Invitation).where(Invitation.tenant_id == tenant.id, Invitation.email == email,
                                    Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    ).scalars():
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    ttl = dt.timedelta(hours=current_app.config["INVITATION_TTL_HOURS"])
    delivery = MAIL if mail.configured() else LINK
    invitation = Invitation(tenant_id=tenant.id, email=email, role=role, token_hash=_hash(token),
                            created_by_id=actor.user_id, expires_at=now + ttl, delivery=delivery)
    db.session.add(invitation)
    db.session.flush()
    audit.record("tm.invitation.created", "invitation", email, tenant=tenant,
                 details={"role": role, "delivery": delivery})
    if delivery == LINK:
        return invitation, token
    _mail(invitation, tenant, token, actor, existing_user)
    return invitation, None


def _mail(invitation: Invitation, tenant: Tenant, token: str, actor: Principal, existing_user) -> None:
    """Send the link to the invited address (after commit; a failure is logged, and inviting
    again sends a fresh link). In the account's language when it has one: only its owner reads it."""
    from .forms import ROLE_CHOICES

    with force_locale(getattr(existing_user, "locale", None) or _current_locale()):
        body = _("%(inviter)s invited you to join %(tenant)s on Taiji as %(role)s.\n\n"
                 "Open this link to accept, before %(expires)s (UTC). If you have no Taiji account "
                 "yet, you create it there:\n\n"
                 "%(link)s\n\n"
                 "The link was sent only to %(email)s; do not pass it on. If you do not know why you "
                 "were invited, ignore this mail.",
                 inviter=actor.email if actor.user_id else "Taiji", tenant=tenant.name,
                 role=str(dict(ROLE_CHOICES)[invitation.role]),
                 expires=invitation.expires_at.strftime("%Y-%m-%d %H:%M"),
                 link=invitation_url(token), email=invitation.email)
        subject = _("Invitation to %(tenant)s on Taiji", tenant=tenant.name)
    mail.send_after_commit(invitation.email, subject, body)


def _current_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "en")


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
        raise NotFound(msg("No invitation %(invitation_id)s.", invitation_id=invitation_id))
    if invitation.state(utcnow()) != "pending":
        raise Conflict(msg("The invitation is %(state)s; only a pending one can be revoked.",
                           state=invitation.state(utcnow())))
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
        raise NotFound(msg("This invitation link is not valid. Ask for a new one."))
    tenant = db.session.get(Tenant, invitation.tenant_id)
    return InvitationView(invitation, tenant, invitation.state(utcnow()))


_NOT_PENDING = {"accepted": "This invitation was already accepted.",
                "declined": "This invitation was declined. Ask for a new one.",
                "revoked": "This invitation was withdrawn. Ask for a new one.",
                "expired": "This invitation has expired. Ask for a new one."}


def accept_invitation(token: str, user_id: int) -> Tenant:
    """The signed-in user accepts through the link; the invitation's email must be theirs."""
    return _accept_through_link(token, user_id, registered=False)


def _accept_through_link(token: str, user_id: int, *, registered: bool) -> Tenant:
    """``registered``: the account was made through this very link, in this unit of work."""
    view = find_invitation(token)
    if view.state != "pending":
        raise Conflict(_NOT_PENDING[view.state])
    user = iam.get_user(user_id)
    if user.email != view.invitation.email:
        raise Forbidden(msg("This invitation is for %(email)s; you are signed in as %(user_email)s.",
                            email=view.invitation.email, user_email=user.email))
    if not iam.is_email_verified(user):
        if view.invitation.delivery == MAIL:
            # The link went to the mailbox only, and the account's holder opened it: the same proof
            # as a verification link opened in the signed-in browser.
            iam.mark_email_verified(user, "invitation", actor=user)
        elif not registered:
            raise _unverified()
    return _accept(view.invitation, view.tenant, user)


def _unverified() -> UnverifiedEmail:
    return UnverifiedEmail(
        msg("Verify your email address before answering this invitation: POST "
            "/api/v1/me/email/verification mails you a link (without a mail server, a platform "
            "administrator verifies it). Until then an account made through an invitation link can only "
            "be a member of that link's tenant."))


def can_answer_invitations(user_id: int) -> bool:
    """Whether the user's address is verified, so that invitations to it are theirs to see and answer."""
    return iam.is_email_verified(iam.get_user(user_id))


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
        raise NotFound(msg("No invitation %(invitation_id)s for you.", invitation_id=invitation_id))
    invitation, tenant = row
    state = invitation.state(utcnow())
    if state != "pending":
        raise Conflict(_NOT_PENDING[state])
    if not iam.is_email_verified(user):
        raise _unverified()
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
        raise Conflict(msg("The tenant '%(tenant_slug)s' is suspended.", tenant_slug=tenant.slug))
    if members._member_row(tenant, user_id) is None:
        members._add_member(tenant, user_id, invitation.role, invited_by_id=invitation.created_by_id)
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user_id
    audit.record("tm.invitation.accepted", "invitation", invitation.email, tenant=tenant, actor=user)
    db.session.flush()
    return tenant


def register_and_accept(token: str, name: str, password: str):
    """Create the account for an invited address that has none yet, then accept.

    The address is verified only when the link went by mail alone; a link the inviter was
    handed makes an account that can be a member of this tenant and nothing more, until its
    owner verifies the address.
    """
    view = find_invitation(token)
    if view.state != "pending":
        raise Conflict(msg("This invitation is %(view_state)s.", view_state=view.state))
    if iam.get_user_by_email(view.invitation.email) is not None:
        raise Conflict(msg("An account with this email exists; sign in to accept."))
    user = iam.create_user(view.invitation.email, name, password)
    _accept_through_link(token, user.id, registered=True)
    return user, view.tenant
