"""The tenant's architecture rules: its layers (highest first) and each rule's severity."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Conflict, field_error, msg

from ..models import Component, RuleSettings
from . import fields

DEFAULT_LAYERS = ["access", "business-process", "business-logic", "common-service", "base"]
RULES = {
    "same-layer": "Components of one layer must not depend on each other.",
    "upward-dependency": "A lower layer must not depend on a higher one.",
    "cycle": "Dependencies must not form a cycle.",
    "shared-database": "A component must not use a database another component owns.",
}
DEFAULT_SEVERITIES = {
    "same-layer": "warning",
    "upward-dependency": "error",
    "cycle": "error",
    "shared-database": "warning",
}
SEVERITIES = ("error", "warning")


def settings(tenant) -> RuleSettings:
    """The tenant's settings row, created with the defaults on first use."""
    # Remembered for the session: a bulk import asks for it once per entity. A row the
    # session no longer holds (closed, or its creation rolled back) is looked up again.
    memo = db.session.info.setdefault("spm.rule_settings", {})
    row = memo.get(tenant.id)
    if row is not None and sa.inspect(row).persistent:
        return row
    row = db.session.execute(
        sa.select(RuleSettings).where(RuleSettings.tenant_id == tenant.id)
    ).scalar_one_or_none()
    if row is None:
        row = RuleSettings(
            tenant_id=tenant.id,
            layers=list(DEFAULT_LAYERS),
            severities=dict(DEFAULT_SEVERITIES),
            revision=_stamp(),
        )
        db.session.add(row)
        db.session.flush()
    memo[tenant.id] = row
    return row


def layers(tenant) -> list[str]:
    return list(settings(tenant).layers)


def severities(tenant) -> dict[str, str]:
    return {**DEFAULT_SEVERITIES, **settings(tenant).severities}


def _stamp() -> int:
    # Random rather than counted: a rolled-back change must never leave a revision that a
    # different later change could reach again and so pass for a cached graph's revision.
    return secrets.randbits(62)


def touch(tenant) -> None:
    """Mark the tenant's catalog as changed (cached graphs of it are stale)."""
    settings(tenant).revision = _stamp()


def revision(tenant) -> int:
    return settings(tenant).revision


def update_settings(
    tenant, *, layers: list[str] | None = None, severities: dict[str, str] | None = None
) -> RuleSettings:
    """Change the layers or severities. A layer still used by a component cannot be removed;
    a cycle is always an error."""
    row = settings(tenant)
    changes: dict = {}
    if layers is not None:
        names = [fields.name(layer, "layers") for layer in layers]
        if not names or len(set(names)) != len(names) or len(names) > 12:
            raise field_error("layers", msg("Give 1-12 distinct layers, highest first."))
        removed = set(row.layers) - set(names)
        if removed:
            used = db.session.execute(
                sa.select(Component.layer, sa.func.count())
                .where(Component.tenant_id == tenant.id, Component.layer.in_(removed))
                .group_by(Component.layer)
            ).all()
            if used:
                listed = ", ".join(f"{layer} ({count} components)" for layer, count in used)
                raise Conflict(msg("These layers are still in use: %(listed)s. Move those components "
                                   "first.", listed=listed))
        if names != row.layers:
            changes["layers"] = {"from": row.layers, "to": names}
            row.layers = names
    if severities is not None:
        merged = {**DEFAULT_SEVERITIES, **row.severities}
        for rule, severity in severities.items():
            if rule not in RULES:
                raise field_error("severities", msg("Unknown rule '%(rule)s'; the rules are %(rules)s.",
                                                    rule=rule, rules=', '.join(RULES)))
            if severity not in SEVERITIES:
                raise field_error("severities", msg("Severity of '%(rule)s' must be error or warning.",
                                                    rule=rule))
            if rule == "cycle" and severity != "error":
                raise field_error("severities", msg("A dependency cycle is always an error."))
            merged[rule] = severity
        if merged != {**DEFAULT_SEVERITIES, **row.severities}:
            changes["severities"] = merged
            row.severities = merged
    if changes:
        row.updated_at = utcnow()
        row.revision = _stamp()
        audit.record("spm.rules.changed", "rules", tenant.slug, tenant=tenant, details=changes)
        db.session.flush()
    return row
