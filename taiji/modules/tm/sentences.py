"""TM's audit actions as sentences (``taiji.platform.audit_sentences``), with links to their targets."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence

from .forms import ROLE_CHOICES

_ROLES = dict(ROLE_CHOICES)


def _role_words(entry) -> dict:
    details = entry.details or {}
    return {key: str(_ROLES.get(details.get(key), details.get(key) or "?")) for key in ("role", "from", "to")}


def _members(entry, tenant):
    return url_for("tm.members", tenant=tenant.slug) if tenant is not None else None


def _settings(entry, tenant):
    return url_for("tm.settings", tenant=tenant.slug) if tenant is not None else None


def _overview(entry, tenant):
    return url_for("tm.overview", tenant=tenant.slug) if tenant is not None else None


SENTENCES = [
    Sentence("tm.member.added", _l("%(actor)s added member %(target)s as %(role)s"), _role_words, _members),
    Sentence("tm.member.removed", _l("%(actor)s removed member %(target)s"), _role_words, _members),
    Sentence("tm.member.role_changed", _l("%(actor)s changed the role of %(target)s from %(from)s to %(to)s"),
             _role_words, _members),
    Sentence("tm.invitation.created", _l("%(actor)s invited %(target)s as %(role)s"), _role_words, _members),
    Sentence("tm.invitation.accepted", _l("%(target)s accepted the invitation"), None, _members),
    Sentence("tm.invitation.declined", _l("%(target)s declined the invitation"), None, _members),
    Sentence("tm.invitation.revoked", _l("%(actor)s withdrew the invitation of %(target)s"), None, _members),
    Sentence("tm.tenant.created", _l("%(actor)s created the tenant %(name)s"), None, _overview),
    Sentence("tm.tenant.renamed", _l("%(actor)s renamed the tenant from %(from)s to %(to)s"), None,
             _settings),
    Sentence("tm.tenant.mfa_required", _l("%(actor)s required two-factor authentication for every member"),
             None, _settings),
    Sentence("tm.tenant.mfa_optional", _l("%(actor)s made two-factor authentication optional"), None,
             _settings),
    Sentence("tm.tenant.suspended", _l("%(actor)s suspended the tenant"), None, _overview),
    Sentence("tm.tenant.reactivated", _l("%(actor)s reactivated the tenant"), None, _overview),
    Sentence("tm.quota.changed", _l("%(actor)s set the quota %(target)s to %(limit)s"),
             lambda entry: {"limit": (entry.details or {}).get("limit") or _l("unlimited")}, _overview),
]
