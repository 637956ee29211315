"""CI secrets: values a job references by name (`secrets: [NAME]`), sealed at rest, write-only.

Who may learn a value: nobody through the API or the console (not even who set it); a job, when
its file names the secret. Since whoever can push a branch can write a job that prints what it
receives, a *protected* secret (the default) goes only to the jobs of protected pipelines — a
branch whose protection restricts who pushes, started by a push or schedule there or by someone
who may push there (``pipelines.protected_run``). Its names are for those who manage secrets.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from taiji.platform import audit, crypto
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import NotFound, field_error, msg

from ..models import Secret

PURPOSE = "cicd.secret"
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_VALUE = 64 * 1024


def list_secrets(tenant, *, repository: str | None = None, page: int = 1, per_page: int = 20) -> Page[Secret]:
    """The tenant's secrets (names and scopes, never values), by name."""
    stmt = sa.select(Secret).where(Secret.tenant_id == tenant.id)
    if repository is not None:
        stmt = stmt.where(Secret.repository == repository)
    return paginate(stmt.order_by(Secret.name, Secret.repository), page, per_page)


def get_secret(tenant, name: str, repository: str = "") -> Secret:
    row = db.session.execute(
        sa.select(Secret).where(
            Secret.tenant_id == tenant.id, Secret.name == name, Secret.repository == (repository or "")
        )
    ).scalar_one_or_none()
    if row is None:
        where = f" for repository '{repository}'" if repository else ""
        raise NotFound(msg("No secret '%(name)s'%(where)s.", name=name, where=where))
    return row


def set_secret(
    tenant, name: str, value: str, *, repository: str | None = None, protected: bool | None = None,
    actor=None,
) -> tuple[Secret, bool]:
    """Create or replace a secret; returns (secret, created). A repository's own value wins over the
    tenant-wide one of the same name. ``protected`` None keeps a replaced secret's setting (a new
    one is protected)."""
    if not NAME_PATTERN.match(name or ""):
        raise field_error(
            "name", msg("Use letters, digits and _, not starting with a digit (an environment variable "
                        "name).")
        )
    if not value:
        raise field_error("value", msg("The value must not be empty."))
    if len(value) > MAX_VALUE:
        raise field_error("value", msg("The value must be at most %(max_value)s KiB.",
                                       max_value=MAX_VALUE // 1024))
    repository = repository or ""
    row = db.session.execute(
        sa.select(Secret).where(
            Secret.tenant_id == tenant.id, Secret.name == name, Secret.repository == repository
        )
    ).scalar_one_or_none()
    created = row is None
    if created:
        row = Secret(tenant_id=tenant.id, name=name, repository=repository, sealed="", protected=True)
        db.session.add(row)
    if protected is not None:
        row.protected = bool(protected)
    row.sealed = crypto.seal(value, PURPOSE)
    row.updated_by_email = getattr(actor, "email", None)
    db.session.flush()
    audit.record(
        "cicd.secret.set",
        "cicd_secret",
        name,
        tenant=tenant,
        actor=actor,
        details={"repository": repository or None, "created": created, "protected": row.protected},
    )
    return row, created


def delete_secret(tenant, name: str, *, repository: str | None = None, actor=None) -> None:
    """Remove a secret; jobs that reference it afterwards fail with a clear message."""
    row = get_secret(tenant, name, repository or "")
    db.session.delete(row)
    db.session.flush()
    audit.record(
        "cicd.secret.delete",
        "cicd_secret",
        name,
        tenant=tenant,
        actor=actor,
        details={"repository": repository or None},
    )


def secret_values(
    tenant_id: int, repository: str, names: list[str], *, protected: bool
) -> tuple[dict[str, str], list[str], list[str]]:
    """Open the named secrets for a job: (values, missing names, withheld names). The repository's
    value wins; a protected secret is withheld from a job of a pipeline that is not ``protected``
    (and never unsealed for it)."""
    if not names:
        return {}, [], []
    rows = db.session.execute(
        sa.select(Secret).where(
            Secret.tenant_id == tenant_id, Secret.name.in_(names), Secret.repository.in_(["", repository])
        )
    ).scalars()
    found: dict[str, Secret] = {}
    for row in rows:
        if row.name not in found or row.repository:
            found[row.name] = row
    withheld = [n for n in names if n in found and found[n].protected and not protected]
    given = {name: row for name, row in found.items() if name not in withheld}
    values = {name: crypto.unseal(row.sealed, PURPOSE).decode() for name, row in given.items()}
    return values, [n for n in names if n not in found], withheld
