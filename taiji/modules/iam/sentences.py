"""IAM's audit actions as sentences (``taiji.platform.audit_sentences``), with links to their targets."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence


def _roles(entry, tenant):
    return url_for("iam_roles.roles", tenant=tenant.slug) if tenant is not None else None


def _groups(entry, tenant):
    return url_for("iam_roles.groups", tenant=tenant.slug) if tenant is not None else None


def _directory(entry, tenant):
    return url_for("iam_directory.directory", tenant=tenant.slug) if tenant is not None else None


# What the tenant's sign-in directory made of a sign-in through it (directory/accounts.py).
_BIND_OUTCOMES = {
    "accepted": _l("%(target)s signed in through the sign-in directory"),
    "refused": _l("The sign-in directory refused a sign-in as %(target)s"),
    "throttled": _l("A sign-in as %(target)s through the sign-in directory was throttled"),
    "unavailable": _l("The sign-in directory did not answer a sign-in as %(target)s"),
}


def _bind(entry) -> dict:
    """The bind's outcome as the whole sentence (``%(said)s``): each outcome reads differently."""
    outcome = (entry.details or {}).get("outcome")
    text = _BIND_OUTCOMES.get(outcome)
    if text is None:
        return {"said": f"{entry.target}: {outcome or '?'}"}
    return {"said": str(text) % {"target": entry.target}}


def _roles_list(entry) -> dict:
    roles = (entry.details or {}).get("roles")
    return {"roles": ", ".join(str(r) for r in roles) if isinstance(roles, list) and roles else "—"}


SENTENCES = [
    Sentence("iam.role.created", _l("%(actor)s created the role %(target)s"), None, _roles),
    Sentence("iam.role.updated", _l("%(actor)s changed the permissions of the role %(target)s"), None,
             _roles),
    Sentence("iam.role.deleted", _l("%(actor)s deleted the role %(target)s"), None, _roles),
    Sentence("iam.role.bound", _l("%(actor)s gave %(target)s the role %(role)s"), None, _roles),
    Sentence("iam.role.unbound", _l("%(actor)s took the role %(target)s from someone"), None, _roles),
    Sentence("iam.group.created", _l("%(actor)s created the group %(target)s"), None, _groups),
    Sentence("iam.group.updated", _l("%(actor)s changed the group %(target)s"), None, _groups),
    Sentence("iam.group.deleted", _l("%(actor)s deleted the group %(target)s"), None, _groups),
    Sentence("iam.group.member_added", _l("%(actor)s added %(email)s to the group %(target)s"), None,
             _groups),
    Sentence("iam.role.synced", _l("The sign-in directory set the roles of user %(target)s: %(roles)s"),
             _roles_list, _roles),
    Sentence("iam.directory.configured", _l("%(actor)s configured the sign-in directory %(target)s"), None,
             _directory),
    Sentence("iam.ldap.bind", "%(said)s", _bind, _directory),
    Sentence("iam.group.member_removed", _l("%(actor)s removed a member from the group %(target)s"), None,
             _groups),
    Sentence("iam.directory.removed", _l("%(actor)s removed the sign-in directory %(target)s"), None,
             _directory),
    Sentence("iam.directory.tested", _l("%(actor)s tested the sign-in directory %(target)s"), None,
             _directory),
    Sentence("iam.domain.added", _l("%(actor)s claimed the email domain %(target)s"), None, _directory),
    Sentence("iam.domain.verified", _l("%(actor)s verified the email domain %(target)s"), None, _directory),
    Sentence("iam.domain.verification_failed",
             _l("%(actor)s checked the email domain %(target)s; it is not verified yet"), None, _directory),
    Sentence("iam.domain.approved", _l("%(actor)s approved the email domain %(target)s"), None, _directory),
    Sentence("iam.domain.revoked", _l("%(actor)s revoked the email domain %(target)s"), None, _directory),
    Sentence("iam.domain.removed", _l("%(actor)s removed the email domain %(target)s"), None, _directory),
    Sentence("iam.token.created", _l("%(actor)s created the personal access token %(target)s")),
    Sentence("iam.token.revoked", _l("%(actor)s revoked the personal access token %(target)s")),
    Sentence("iam.user.password_changed", _l("%(actor)s changed the password of %(target)s")),
    Sentence("iam.user.password_reset", _l("%(target)s set a new password with a reset link")),
    Sentence("iam.user.password_reset_requested", _l("A password reset link was mailed to %(target)s")),
    Sentence("iam.login.succeeded", _l("%(target)s signed in")),
    Sentence("iam.login.failed", _l("A sign-in as %(target)s failed")),
    Sentence("iam.logout", _l("%(target)s signed out")),
]
