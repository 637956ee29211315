"""REST conventions every endpoint follows: problem+json, request ids, pagination, ETags,
Idempotency-Key, the OpenAPI document, and answers for routes and methods that do not exist."""

from __future__ import annotations

import json
import re

import pytest

from tests.factories import database_state, make_member, make_tenant, make_user

# Public on purpose: the API description and the .taiji.yml schema editors fetch.
API_DOC_RULES = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/schemas/taiji-yml.json"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def api_rules(app):
    return [
        r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/") and r.rule not in API_DOC_RULES
    ]


def fill(rule, known: dict) -> str:
    """The rule's path with its arguments from ``known``; others get a value of the right kind."""
    path = rule.rule
    for name in rule.arguments:
        converter = rule._converters[name]
        value = known.get(name, 1 if converter.regex == r"\d+" else "x")
        path = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(value), path)
    return path


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["instance"] == response.request.path
    return body


# -- problem+json -----------------------------------------------------------------------------


def test_field_errors_are_problem_json_under_errors_json(api_as, admin):
    response = api_as(admin).post("/api/v1/tenants", json={"slug": "Not A Slug!", "name": "x"})
    body = assert_problem(response, 422)
    assert body["title"] == "Unprocessable Entity"
    assert body["errors"]["json"]["slug"]


def test_a_callers_request_id_is_kept_in_header_and_body(anon_api):
    response = anon_api.get("/api/v1/me", headers={"X-Request-ID": "trace-42"})
    body = assert_problem(response, 401)
    assert body["request_id"] == "trace-42"


def test_an_unusable_request_id_is_replaced(anon_api):
    response = anon_api.get("/api/v1/me", headers={"X-Request-ID": "x" * 500})
    body = assert_problem(response, 401)
    assert body["request_id"] != "x" * 500


def test_unknown_api_route_is_problem_json_404(anon_api):
    assert_problem(anon_api.get("/api/v1/no-such-thing"), 404)


def test_wrong_method_is_problem_json_405_with_allow(api_as, admin):
    response = api_as(admin).delete("/api/v1/tenants")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_every_api_route_answers_anonymous_callers_401(app, anon_api, tenant):
    filler = {
        "tenant": tenant.slug,
        "user_id": 1,
        "invitation_id": 1,
        "token_id": 1,
        "name": "members",
        "token": "whatever",
    }
    checked = 0
    for rule in api_rules(app):
        path = fill(rule, filler)
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            response = anon_api.open(method, path, json={})
            assert_problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 20


def test_a_revoked_or_unknown_token_is_401(anon_api):
    response = anon_api.get("/api/v1/me", headers={"Authorization": "Bearer tj_pat_not-a-real-token"})
    assert_problem(response, 401)


# -- pagination -------------------------------------------------------------------------------


def test_pages_of_members_with_pagination_header(api_as, tenant, admin):
    for _ in range(4):
        make_member(tenant)
    api = api_as(admin)
    first = api.get(f"/api/v1/tenants/{tenant.slug}/members?page=1&page_size=2")
    second = api.get(f"/api/v1/tenants/{tenant.slug}/members?page=2&page_size=2")
    meta = json.loads(second.headers["X-Pagination"])
    assert meta == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 2,
        "previous_page": 1,
        "next_page": 3,
    }
    assert len(first.json) == len(second.json) == 2
    assert not {m["user_id"] for m in first.json} & {m["user_id"] for m in second.json}


def test_page_size_is_capped_at_100(api_as, admin):
    for n in range(101):
        make_tenant(owner=admin, slug=f"cap-{n}")
    response = api_as(admin).get("/api/v1/tenants?page_size=500")
    assert response.status_code == 200
    assert len(response.json) == 100
    meta = json.loads(response.headers["X-Pagination"])
    assert meta["total"] == 101 and meta["total_pages"] == 2
    huge = api_as(admin).get("/api/v1/tenants?page_size=99999999999999999999999")
    assert len(huge.json) == 100


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=0", "page_size=-5"])
def test_nonsense_paging_is_422(api_as, admin, query):
    assert_problem(api_as(admin).get(f"/api/v1/tenants?{query}"), 422)


# -- ETag / If-Match --------------------------------------------------------------------------


def test_tenant_etag_guards_patch(api_as, tenant, admin):
    api = api_as(admin)
    path = f"/api/v1/tenants/{tenant.slug}"
    etag = api.get(path).headers["ETag"]
    assert etag

    missing = api.patch(path, json={"name": "No precondition"})
    assert_problem(missing, 428)
    stale = api.patch(path, json={"name": "Stale"}, headers={"If-Match": '"stale"'})
    assert_problem(stale, 412)
    assert api.get(path).json["name"] == tenant.name

    ok = api.patch(path, json={"name": "Fresh"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json["name"] == "Fresh"
    assert ok.headers["ETag"] != etag
    again = api.patch(path, json={"name": "Old etag"}, headers={"If-Match": etag})
    assert_problem(again, 412)


def test_get_with_current_etag_is_304(api_as, tenant, admin):
    api = api_as(admin)
    path = f"/api/v1/tenants/{tenant.slug}"
    etag = api.get(path).headers["ETag"]
    assert api.get(path, headers={"If-None-Match": etag}).status_code == 304


# -- Idempotency-Key --------------------------------------------------------------------------


def _count_tenants():
    from taiji.modules.tm import services

    return services.count_tenants()


def test_same_key_and_body_creates_one_tenant_and_replays_the_answer(api_as, admin):
    api = api_as(admin)
    body = {"slug": "idem", "name": "Idempotent"}
    first = api.post("/api/v1/tenants", json=body, headers={"Idempotency-Key": "k-1"})
    count = _count_tenants()
    second = api.post("/api/v1/tenants", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count_tenants() == count


def test_same_key_with_another_body_is_422(api_as, admin):
    api = api_as(admin)
    api.post("/api/v1/tenants", json={"slug": "idem-a", "name": "A"}, headers={"Idempotency-Key": "k-2"})
    count = _count_tenants()
    response = api.post(
        "/api/v1/tenants", json={"slug": "idem-b", "name": "B"}, headers={"Idempotency-Key": "k-2"}
    )
    assert_problem(response, 422)
    assert _count_tenants() == count


def test_same_key_on_invitations_sends_one_invitation(api_as, tenant, admin):
    from taiji.modules.tm import services

    api = api_as(admin)
    path = f"/api/v1/tenants/{tenant.slug}/invitations"
    body = {"email": "once@example.com", "role": "viewer"}
    first = api.post(path, json=body, headers={"Idempotency-Key": "inv-1"})
    second = api.post(path, json=body, headers={"Idempotency-Key": "inv-1"})
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    listed = services.list_invitations(tenant, pending_only=False)
    assert [i.email for i in listed.items] == ["once@example.com"]
    other = api.post(path, json={"email": "twice@example.com"}, headers={"Idempotency-Key": "inv-1"})
    assert_problem(other, 422)


def test_keys_are_per_caller(api_as, admin):
    other_admin = make_user(admin=True)
    api_as(admin).post(
        "/api/v1/tenants", json={"slug": "mine", "name": "Mine"}, headers={"Idempotency-Key": "same"}
    )
    theirs = api_as(other_admin).post(
        "/api/v1/tenants", json={"slug": "theirs", "name": "Theirs"}, headers={"Idempotency-Key": "same"}
    )
    assert theirs.status_code == 201 and theirs.json["slug"] == "theirs"


def test_a_failed_request_does_not_burn_its_key(api_as, admin):
    api = api_as(admin)
    bad = api.post(
        "/api/v1/tenants", json={"slug": "BAD!", "name": "x"}, headers={"Idempotency-Key": "retry"}
    )
    assert bad.status_code == 422
    good = api.post(
        "/api/v1/tenants", json={"slug": "good", "name": "x"}, headers={"Idempotency-Key": "retry"}
    )
    assert good.status_code == 201


# -- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_lists_every_api_route_and_method(app, anon_api):
    document = anon_api.get("/api/v1/openapi.json")
    assert document.status_code == 200
    paths = document.json["paths"]
    for rule in api_rules(app):
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        assert path in paths, f"{rule.rule} is missing from the OpenAPI document"
        documented = {m.upper() for m in paths[path] if m != "parameters"}
        assert rule.methods - {"HEAD", "OPTIONS"} <= documented, rule.rule


def test_browsable_api_page_is_served(anon_api):
    response = anon_api.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "openapi.json" in page and "redoc" in page.lower()


# -- no input produces a 500 ------------------------------------------------------------------

# A valid body for each writing endpoint, so that each fuzzed field is the only thing wrong.
VALID_BODIES = {
    ("POST", "/api/v1/tenants"): {"slug": "fuzzed", "name": "Fuzzed"},
    ("PATCH", "/api/v1/tenants/<tenant>"): {"name": "Renamed"},
    ("POST", "/api/v1/tenants/<tenant>/members"): {"email": "fuzz-member@example.com", "role": "member"},
    ("PATCH", "/api/v1/tenants/<tenant>/members/<int:user_id>"): {"role": "viewer"},
    ("POST", "/api/v1/tenants/<tenant>/invitations"): {"email": "fuzz@example.com", "role": "member"},
    ("PUT", "/api/v1/tenants/<tenant>/quotas/<name>"): {"limit": 10},
    ("PATCH", "/api/v1/me"): {"name": "Me", "locale": "en"},
    ("POST", "/api/v1/me/tokens"): {"name": "fuzz", "scopes": ["tm:member:read"]},
    ("POST", "/api/v1/users"): {"email": "fuzz-user@example.com", "password": "long-enough-1"},
    ("POST", "/api/v1/invitations/<token>/accept"): {},
}

HOSTILE_VALUES = [
    12345,
    -1,
    2**70,
    1e308,
    True,
    None,
    [],
    {},
    ["a", 1],
    {"nested": {"deeper": [1]}},
    "",
    " ",
    "x" * 100_000,
    "a\x00b",
    "名前 😀 \u202e abc \u0301",
    "'; DROP TABLE iam_user; --",
    "%_\\",
    "2026-13-45T99:99:99",
    "user@例え.jp",
]

RAW_BODIES = [
    (b"not json", "application/json"),
    (b'{"unclosed": ', "application/json"),
    (b'{"name": "\\ud800"}', "application/json"),
    (b"\xff\xfe\xfd", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"null", "application/json"),
    (b"name=form&slug=data", "application/x-www-form-urlencoded"),
    (b"<xml/>", "text/xml"),
    (b"", "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
]


@pytest.fixture
def fuzz_target(tenant, admin):
    from tests.factories import make_invitation

    member = make_member(tenant)
    make_user(email="fuzz-member@example.com")
    _, token = make_invitation(tenant)
    return {"tenant": tenant.slug, "user_id": member.id, "name": "members", "token": token}


def _writing_calls(app, known):
    for rule in api_rules(app):
        for method in sorted(rule.methods & {"POST", "PATCH", "PUT"}):
            yield method, rule.rule, fill(rule, known)


# The writing endpoints are fuzzed in shards, so that a parallel run spreads the work.
SHARDS = 4


class _Statements:
    """Counts the statements sent to the database, and those of them that may change a row.

    Reading every row of every table after each of the fuzz's thousands of requests was most of
    the suite's time; a request that sent no statement able to write cannot have changed a row, so
    the whole database is compared only after a request that sent one (and every refusal that did
    is still compared row by row)."""

    READS = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "SHOW", "SET ", "PRAGMA")

    def __init__(self):
        self.sent = 0
        self.writing = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.sent += 1
        if not statement.lstrip().upper().startswith(self.READS):  # INSERT, UPDATE, DELETE, WITH…
            self.writing += 1


@pytest.fixture
def statements(_isolated):
    """Every statement of the test's engine (the app's connections, whichever it opens)."""
    import sqlalchemy as sa

    counter = _Statements()
    engine = _isolated.engine
    sa.event.listen(engine, "before_cursor_execute", counter)
    yield counter
    sa.event.remove(engine, "before_cursor_execute", counter)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_input_makes_a_500(app, api_as, admin, fuzz_target, statements, shard):
    api = api_as(admin)
    headers = {"If-Match": "*"}
    seen = []

    # A request may send no statement at all (its caller known from the auth cache, its malformed
    # body refused before any read); the counter must still hear the requests that do.
    first = statements.sent
    state = {"before": database_state(), "sent": statements.sent, "writing": statements.writing,
             "compared": 0}

    def check(response, call):
        seen.append(call)
        assert response.status_code < 500, (call, response.get_data(as_text=True)[:500])
        if statements.writing > state["writing"]:
            after = database_state()
            state["compared"] += 1
        else:
            after = state["before"]  # nothing was sent that could change a row
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", call
            assert after == state["before"], call  # a refusal changed nothing
        state["before"] = after
        state["sent"], state["writing"] = statements.sent, statements.writing

    calls = list(_writing_calls(app, fuzz_target))
    # Every endpoint with a valid body above is still one the walk finds.
    assert {(m, r) for m, r, _ in calls} >= set(VALID_BODIES)
    for method, rule, path in calls[shard::SHARDS]:
        valid = VALID_BODIES.get((method, rule), {})
        for raw, content_type in RAW_BODIES:
            response = api.open(method, path, data=raw, headers={**headers, "Content-Type": content_type})
            check(response, (method, path, raw[:40]))
        for field in valid or ["anything"]:
            for value in HOSTILE_VALUES:
                response = api.open(method, path, json={**valid, field: value}, headers=headers)
                check(response, (method, path, field, repr(value)[:40]))
    assert len({(m, p) for m, p, *_ in seen}) == len(calls[shard::SHARDS]) > 0
    assert statements.sent > first  # the counter hears this engine
    assert state["compared"] > 0  # the valid bodies wrote, and the database was compared after them


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tenants?q=%00",
        "/api/v1/tenants?status=bogus",
        "/api/v1/users?q=%00%ff",
        "/api/v1/tenants/{t}/members?role=god",
        "/api/v1/tenants/{t}/members?q=%00",
        "/api/v1/tenants/{t}/audit?action=%00",
        "/api/v1/tenants/{t}/invitations?all=maybe",
        "/api/v1/tenants/%00",
        "/api/v1/tenants/{t}/members/99999999999999999999999",
        "/api/v1/users/99999999999999999999999",
        "/api/v1/tenants/{t}/quotas/%00",
    ],
)
def test_odd_reads_are_4xx_not_500(api_as, admin, tenant, path):
    response = api_as(admin).get(path.format(t=tenant.slug))
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"


def test_a_page_past_the_end_is_empty(api_as, admin):
    response = api_as(admin).get("/api/v1/audit?page=99999999999999999999999")
    assert response.status_code == 200 and response.json == []


def test_odd_idempotency_key_is_400(api_as, admin):
    response = api_as(admin).post(
        "/api/v1/tenants", json={"slug": "k", "name": "k"}, headers={"Idempotency-Key": "k" * 300}
    )
    assert_problem(response, 400)
