"""One seeded tenant whose data fills every URL argument of the URL map, for the per-route walks
(tests/platform/test_route_access.py).

Tenant-owned arguments come from the modules' seeders (tests/factories.py ``seed_tenant``, which the
tenant-isolation walk uses too); the arguments of routes outside any tenant (an OAuth client, a
personal token, a domain claim …) are seeded here. A route with an argument neither knows fails
the walk, naming it.
"""

from __future__ import annotations

from flask import current_app
from werkzeug.routing import Rule

from taiji.platform import auth
from tests.factories import PROTOCOL_SEEDERS, make_invitation, make_member, make_tenant
from tests.factories import seed_tenant as seed_modules


def _platform_arguments(tenant, owner, known: dict) -> dict:
    """Arguments of routes outside a tenant: real rows where the route would otherwise 404 early."""
    import sqlalchemy as sa

    from taiji.modules.iam import services as iam
    from taiji.modules.iam.directory.models import DirectoryDomain
    from taiji.modules.iam.oauth import services as oauth
    from taiji.platform.db import db

    client, _secret = oauth.create_client("Route walk", ["https://walk.example.com/callback"])
    spare, _plaintext = iam.create_token(owner, "spare, revoked by the walk")
    domain_id = db.session.execute(
        sa.select(DirectoryDomain.id).where(DirectoryDomain.tenant_id == tenant.id)).scalar()
    return {
        "slug": tenant.slug,
        "client_id": client.client_id,
        "token_id": spare.id,  # never the walker's own token: revoking that would end the walk
        "domain_id": domain_id if domain_id is not None else 2**31,
        # Rows of the owner's own account that the walk does not need to exist: a 404 is an answer
        # past the permission check, which is what the walk asks of the holder.
        "consent_id": 2**31,
        "session_id": 2**31,
        "token": "no-such-token",
    }


def seed_tenant(owner) -> tuple[object, dict]:
    """A tenant of ``owner`` with a member, an invitation, a quota override and a row of every kind
    the modules seed; returns (tenant, URL argument -> value)."""
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    tenant = make_tenant(owner=owner)
    member = make_member(tenant, "member")
    invitation, _ = make_invitation(tenant)
    tm.set_quota(tenant, tm.MEMBERS_METER, 50)
    db.session.commit()
    args = {
        "tenant": tenant.slug,
        "user_id": member.id,
        "invitation_id": invitation.id,
        "name": tm.MEMBERS_METER,
    }
    # Every enabled module's seeders (Module.seeders: callables, or test modules that register them).
    args.update(seed_modules(current_app, tenant, owner, args))
    args.update(_platform_arguments(tenant, owner, args))
    db.session.commit()
    return tenant, args


def build_path(rule: Rule, known: dict) -> str | None:
    """The rule's path with every argument filled from ``known``; None when one is unknown."""
    if set(rule.arguments) - set(known):
        return None
    path = rule.rule
    for name in rule.arguments:
        converter = rule._converters[name]
        start = path.index(name + ">")
        spec = path[path.rindex("<", 0, start) + 1: start + len(name)]
        path = path.replace(f"<{spec}>", converter.to_url(known[name]))
    return path


# -- protocol routes (auth.protocol): what to call on them --------------------------------------
# The first segment of a protocol route's path -> seed(tenant, owner, args) returning the variants
# to call: URL arguments, and under "?" a query string. ``args`` holds the tenant's seeded data
# (ISOLATION_SEEDERS); a protocol route under a segment not listed fails the walks that use it.


def _git_calls(tenant, owner, args) -> list[dict]:
    base = {"tenant_slug": tenant.slug, "repo_name": args["repo"]}
    return [
        {**base, "rest": "info/refs", "?": "service=git-upload-pack"},
        {**base, "rest": "info/refs", "?": "service=git-receive-pack"},
        {**base, "rest": "git-upload-pack"},
        {**base, "rest": "git-receive-pack"},
    ]


def _pypi_calls(tenant, owner, args) -> list[dict]:
    from taiji.modules.bpr import services as bpr

    repository = bpr.get_repository(tenant, args["bpr_repo"])
    row = bpr.get_file(repository, args["bpr_file"])
    return [{"tenant_slug": tenant.slug, "repo_name": repository.name, "project": row.package,
             "package": row.package, "filename": row.filename}]


def generic_file_content(tenant) -> bytes:
    return f"private notes of {tenant.slug}\n".encode()


def _generic_calls(tenant, owner, args) -> list[dict]:
    import io

    from taiji.modules.bpr import services as bpr

    name = f"files-of-{tenant.slug}"
    repository = bpr.find_repository(tenant, name) or bpr.create_repository(tenant, {"name": name,
                                                                                     "kind": "generic"})
    if bpr.find_file(repository, "notes/private.txt") is None:
        body = generic_file_content(tenant)
        bpr.store_generic(tenant, repository, "notes/private.txt", io.BytesIO(body), length=len(body))
    return [{"tenant_slug": tenant.slug, "repo_name": name, "path": "notes/private.txt"}]


PROTOCOL_SEEDERS.update({"git": _git_calls, "pypi": _pypi_calls, "bpr": _generic_calls})


def protocol_calls(app, tenant, owner, args) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path with query, the permissions the route declares) for every method of every
    protocol route with a tenant in its URL, filled with ``tenant``'s data; fails naming a route the
    seeders do not know."""
    import pytest

    calls, unknown = [], []
    for rule, method, declaration in auth.route_declarations(app):
        if declaration is None or declaration.kind != auth.PROTOCOL or "tenant_slug" not in rule.arguments:
            continue
        seeder = PROTOCOL_SEEDERS.get(rule.rule.strip("/").split("/")[0])
        if seeder is None:
            unknown.append(rule.rule)
            continue
        for variant in seeder(tenant, owner, args):
            path = build_path(rule, variant)
            if path is None:
                unknown.append(rule.rule)
                continue
            query = f"?{variant['?']}" if "?" in variant else ""
            calls.append((method, path + query, declaration.permissions))
    if unknown:
        pytest.fail(f"protocol routes the walk cannot fill: {sorted(set(unknown))}; add their first "
                    "path segment to tests.factories.PROTOCOL_SEEDERS (in the module's seeders file)")
    return sorted(set(calls))
