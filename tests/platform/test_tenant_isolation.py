"""Tenant isolation, walked over the whole URL map.

Every rule with a ``<tenant>`` argument (REST and console), for every method it accepts, is
called by the owner of tenant B with tenant A's slug and real identifiers of A's data. The
answer must be 404 and the database must be exactly as before. A route added later is walked
too; one with an argument this test does not know fails it until the table below learns it.

Protocol routes (``auth.protocol``: git, the package index, generic files) are walked the same way
with tokens as their clients send them, Basic and Bearer: another tenant's token gets 401, 403 or
404 and nothing of A's data, and the database is exactly as before.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from tests.factories import database_state, make_tenant, make_token, make_user, seed_tenant
from tests.platform.route_seeds import generic_file_content, protocol_calls

# Methods Flask adds by itself; HEAD is still walked because it runs the GET view.
SKIPPED_METHODS = {"OPTIONS"}


@pytest.fixture
def two_tenants(app):
    """Tenants A and B, each with representative data of every enabled module (its seeders)."""
    from taiji.platform.db import db

    owner_a = make_user()
    tenant_a = make_tenant(owner=owner_a)
    owner_b = make_user()
    tenant_b = make_tenant(owner=owner_b)

    args = {"tenant": tenant_a.slug, **seed_tenant(app, tenant_a, owner_a, {"tenant": tenant_a.slug})}
    seeded_b = seed_tenant(app, tenant_b, owner_b, {"tenant": tenant_b.slug})  # B has data of every kind too
    db.session.commit()
    return {
        "tenant_a": tenant_a,
        "owner_a": owner_a,
        "tenant_b": tenant_b,
        "owner_b": owner_b,
        # URL argument -> a real identifier of tenant A's data.
        "args": args,
        # The arguments that name rows owned by tenant A. A seeded identifier spelled the same in
        # both tenants (a quota's name, an API's name) names no row of A.
        "owned_by_a": {n for n in seeded_b if args[n] != seeded_b[n]},
    }


def tenant_rules(app) -> list[Rule]:
    rules = [rule for rule in app.url_map.iter_rules() if "tenant" in rule.arguments]
    assert rules, "the URL map has no tenant-scoped route; the walk would prove nothing"
    return sorted(rules, key=lambda r: r.rule)


def build_path(rule: Rule, known: dict) -> str:
    unknown = set(rule.arguments) - set(known)
    if unknown:
        pytest.fail(
            f"{rule.rule} has URL arguments {sorted(unknown)} this test cannot fill; add a real "
            "identifier of tenant A's data for each: give the module a seeder (Module.seeders, see "
            "tests/factories.py)"
        )
    path = rule.rule
    for name in rule.arguments:
        converter = rule._converters[name]
        path = path.replace(f"<{_spec(rule, name)}>", converter.to_url(known[name]))
    assert "<" not in path, path
    return path


def _spec(rule: Rule, name: str) -> str:
    """The placeholder as written in the rule (``int:user_id``, ``tenant``)."""
    start = rule.rule.index(name + ">")
    return rule.rule[rule.rule.rindex("<", 0, start) + 1 : start + len(name)]


def calls(app, known):
    for rule in tenant_rules(app):
        for method in sorted(rule.methods - SKIPPED_METHODS):
            yield rule, method, build_path(rule, known)


def test_every_tenant_route_is_walked(app):
    rules = {r.rule for r in tenant_rules(app)}
    # A sample of what must be there; the walk itself covers whatever else exists.
    assert "/api/v1/tenants/<tenant>/members/<int:user_id>" in rules
    assert "/t/<tenant>/members" in rules


def test_owner_of_another_tenant_gets_404_on_every_api_route(app, client, api_as, two_tenants):
    api = api_as(two_tenants["owner_b"])
    api.get("/api/v1/me")  # the token's first use writes last_used_at; let that settle first
    before = database_state()
    answers = {}
    for _rule, method, path in calls(app, two_tenants["args"]):
        if not path.startswith("/api/"):
            continue
        response = api.open(method, path, json={}, headers={"If-Match": "*"})
        answers[f"{method} {path}"] = response.status_code
        if method != "HEAD":
            assert response.mimetype == "application/problem+json", f"{method} {path}"
    leaks = {call: status for call, status in answers.items() if status != 404}
    assert answers and not leaks
    assert database_state() == before


def test_owner_of_another_tenant_gets_404_on_every_console_page(app, login, two_tenants):
    client = login(two_tenants["owner_b"])
    before = database_state()
    answers = {}
    for _rule, method, path in calls(app, two_tenants["args"]):
        if path.startswith("/api/"):
            continue
        response = client.open(
            path,
            method=method,
            data={"role": "viewer", "name": "Taken over", "email": "intruder@example.com"},
        )
        answers[f"{method} {path}"] = response.status_code
    leaks = {call: status for call, status in answers.items() if status != 404}
    assert answers and not leaks
    assert database_state() == before


def _foreign_ids_under_own_tenant(app, fixture):
    """Routes that take identifiers of A's rows, called under B's own slug: the lookup must be B's."""
    known = {**fixture["args"], "tenant": fixture["tenant_b"].slug}
    for rule, method, path in calls(app, known):
        if set(rule.arguments) & fixture["owned_by_a"]:
            yield method, path


def test_identifiers_of_tenant_a_are_404_under_tenant_b_in_the_api(app, api_as, two_tenants):
    api = api_as(two_tenants["owner_b"])
    api.get("/api/v1/me")
    before = database_state()
    answers = {
        f"{m} {p}": api.open(m, p, json={"role": "viewer"}).status_code
        for m, p in _foreign_ids_under_own_tenant(app, two_tenants)
        if p.startswith("/api/")
    }
    leaks = {call: status for call, status in answers.items() if status != 404}
    assert answers and not leaks
    assert database_state() == before


def test_identifiers_of_tenant_a_are_404_under_tenant_b_in_the_console(app, login, two_tenants):
    client = login(two_tenants["owner_b"])
    before = database_state()
    answers = {
        f"{m} {p}": client.open(p, method=m, data={"role": "viewer"}).status_code
        for m, p in _foreign_ids_under_own_tenant(app, two_tenants)
        if not p.startswith("/api/")
    }
    leaks = {call: status for call, status in answers.items() if status != 404}
    assert answers and not leaks
    assert database_state() == before


def test_the_same_reads_succeed_for_tenant_a_owner(app, client, api_as, login, two_tenants):
    """Without this the 404s above could come from identifiers that point at nothing."""
    api = api_as(two_tenants["owner_a"])
    console = login(two_tenants["owner_a"])
    failures = {}
    for _rule, method, path in calls(app, two_tenants["args"]):
        if method != "GET":
            continue
        # An event stream runs until its job ends: its answer's status is all the walk reads.
        response = api.get(path) if path.startswith("/api/") else console.get(path, buffered=False)
        response.close()
        if response.status_code != 200:
            failures[path] = response.status_code
    assert not failures


def test_anonymous_caller_learns_nothing_about_tenants(app, anon_api, two_tenants):
    existing = anon_api.get(f"/api/v1/tenants/{two_tenants['tenant_a'].slug}/members")
    missing = anon_api.get("/api/v1/tenants/no-such-tenant/members")
    assert existing.status_code == missing.status_code == 401
    assert existing.json["detail"] == missing.json["detail"]


# -- protocol routes --------------------------------------------------------------------------------


def _credentials(token: str) -> list[dict]:
    import base64

    basic = base64.b64encode(f"token:{token}".encode()).decode()
    return [{"Authorization": f"Bearer {token}"}, {"Authorization": f"Basic {basic}"}]


@pytest.fixture
def protocol_walk(app, two_tenants):
    calls = protocol_calls(app, two_tenants["tenant_a"], two_tenants["owner_a"], two_tenants["args"])
    from taiji.platform.db import db

    db.session.commit()
    assert {path.split("/")[1] for _method, path, _needs in calls} >= {"git", "pypi", "bpr"}, calls
    return calls


def test_a_token_of_another_tenant_gets_nothing_from_protocol_routes(app, client, two_tenants, protocol_walk):
    token = make_token(two_tenants["owner_b"])
    for headers in _credentials(token):  # the token's first use writes last_used_at; let that settle
        client.get("/api/v1/me", headers=headers)
    secret = generic_file_content(two_tenants["tenant_a"])
    before = database_state()
    answers, leaks = {}, {}
    for method, path, _needs in protocol_walk:
        for headers in _credentials(token):
            response = client.open(path, method=method, headers=headers, data=b"")
            answers[f"{method} {path} {headers['Authorization'].split()[0]}"] = response.status_code
            if response.status_code not in (401, 403, 404) or secret in response.data \
                    or b"# service=" in response.data:
                leaks[f"{method} {path} {headers['Authorization'].split()[0]}"] = response.status_code
    assert answers and not leaks
    assert database_state() == before


def test_the_anonymous_are_challenged_on_protocol_routes(app, client, two_tenants, protocol_walk):
    before = database_state()
    wrong = {}
    for method, path, _needs in protocol_walk:
        response = client.open(path, method=method, data=b"")
        if path.split("/")[1] == "git" and response.status_code == 404 and b"smart-HTTP" in response.data:
            continue  # not a smart-HTTP request at all (a service that method does not serve)
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.startswith("Basic realm="):
            wrong[f"{method} {path}"] = response.status_code
    assert not wrong
    assert database_state() == before


def test_the_same_protocol_reads_succeed_for_tenant_a_owner(app, client, two_tenants, protocol_walk):
    """Without this the refusals above could come from addresses that name nothing."""
    token = make_token(two_tenants["owner_a"])
    secret = generic_file_content(two_tenants["tenant_a"])
    failures = {}
    for method, path, _needs in protocol_walk:
        if method != "GET":
            continue
        for headers in _credentials(token):
            response = client.get(path, headers=headers)
            if path.split("/")[1] == "git" and b"smart-HTTP" in response.data:
                continue
            if response.status_code != 200:
                failures[f"GET {path}"] = response.status_code
            if path.startswith("/bpr/") and response.data != secret:
                failures[f"GET {path} content"] = response.data[:100]
    assert not failures
