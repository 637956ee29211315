"""Authorization by structure: every route of the full application declares its access, and every
declared permission is enforced, route by route.

A route declares one of: ``auth.require(permission, ...)``, ``auth.require_login`` (any signed-in
user), ``auth.public`` or ``auth.protocol(...)`` (a wire protocol authorized through
``taiji.platform.protocol_auth``). The walk below fails naming any route, or any method of a
MethodView, that declares nothing. Then, for every route declaring permissions and every method
it accepts, one seeded tenant's URL is called three times:

- by a token of the tenant's owner (a platform administrator, who holds every permission) whose
  scopes are every permission of the catalog except the declared ones: 403;
- by the same owner's unscoped token: anything but 401, 403 or a 5xx;
- by nobody: 401 (API) or the sign-in page (console);
- by a viewer and by a member of the tenant whose built-in role lacks the permission: 403.

Protocol routes (git, the package index, generic files) are walked alike, with the token as their
clients send it: lacking every permission the route declares, 403; holding them, past the gate.
"""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.auth import catalog
from tests.factories import make_member, make_token
from tests.platform.route_seeds import build_path, protocol_calls, seed_tenant

# Console pages that delete or end something: called last, deepest first, so that the holder's
# requests do not remove what a later route's URL names.
ENDINGS = ("/delete", "/remove", "/revoke", "/decline")


def _order(rule, method: str) -> tuple:
    ending = method == "DELETE" or rule.rule.endswith(ENDINGS)
    group = 2 if ending else (0 if method == "GET" else 1)
    return (group, -len(rule.rule) if ending else 0, rule.rule, method)


def permission_calls(app, args: dict) -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, path, permissions) of every method of every route that declares permissions."""
    calls, unknown = [], {}
    declared = [(rule, method, d) for rule, method, d in auth.route_declarations(app)
                if d is not None and d.kind == auth.PERMISSION]
    for rule, method, declaration in sorted(declared, key=lambda item: _order(item[0], item[1])):
        path = build_path(rule, args)
        if path is None:
            unknown[rule.rule] = sorted(set(rule.arguments) - set(args))
            continue
        calls.append((method, path, declaration.permissions))
    if unknown:
        pytest.fail(f"routes with URL arguments the walk cannot fill: {unknown}; register a seeder in "
                    "tests.factories.ISOLATION_SEEDERS (tenant data) or tests/platform/route_seeds.py")
    assert len(calls) > 100, "the walk found almost no route declaring a permission"
    return calls


def _send(client, method: str, path: str, token: str | None):
    """The answer to an empty request (JSON on the API, a form on the console). A stream of events
    is closed unread: the walk asks only whether the gate let the caller through."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"json": {}} if path.startswith("/api/") else {"data": {}}
    response = client.open(path, method=method, headers=headers, buffered=False,
                           **(body if method != "GET" else {}))
    try:
        if response.mimetype != "text/event-stream":
            response.get_data()
    finally:
        response.close()
    return response


# -- every route declares ------------------------------------------------------------------------


def test_every_route_of_the_application_declares_its_access(app):
    undeclared = auth.undeclared_routes(app)
    assert not undeclared, (
        "these routes declare no access; give each auth.require(permission), auth.require_login, "
        "auth.public or auth.protocol(...):\n  " + "\n  ".join(undeclared))
    kinds = {declaration.kind for _rule, _method, declaration in auth.route_declarations(app)}
    assert kinds == {auth.PERMISSION, auth.LOGIN, auth.PUBLIC, auth.PROTOCOL}


def test_the_check_names_a_route_and_a_method_that_declare_nothing():
    """A second application with one blueprint of each kind: the check finds exactly the two gaps."""
    from flask_smorest import Api

    from taiji.platform.api import Blueprint as ApiBlueprint

    small = Flask("walk-proof", static_folder=None)
    small.config.update(API_TITLE="proof", API_VERSION="1", OPENAPI_VERSION="3.0.2")
    web = __import__("flask").Blueprint("proof", __name__)

    @web.get("/forgot")
    def forgot():
        return "anyone"

    @web.get("/open")
    @auth.public
    def open_page():
        return "anyone, on purpose"

    @web.get("/mine")
    @auth.require_login
    def mine():
        return "signed in"

    blp = ApiBlueprint("proof_api", __name__, url_prefix="/api/v1/proof")

    @blp.route("/half")
    class Half(MethodView):
        @auth.require("proof:read")
        def get(self):
            return {}

        def post(self):  # forgot
            return {}

    @blp.route("/whole")
    @auth.require("proof:write")
    class Whole(MethodView):
        def get(self):
            return {}

        def delete(self):
            return "", 204

    class Base(MethodView):
        def get(self):
            return {}

    @blp.route("/inherited")
    @auth.public
    class Inherited(Base):
        pass

    @blp.route("/base")
    class Plain(Base):
        pass

    small.register_blueprint(web)
    Api(small).register_blueprint(blp)

    assert auth.undeclared_routes(small) == [
        "GET /api/v1/proof/base (proof_api.Plain)",  # the base class's function was not marked
        "GET /forgot (proof.forgot)",
        "POST /api/v1/proof/half (proof_api.Half)",
    ]
    # A permission declared on the class is enforced on each of its methods, not only recorded.
    with small.test_client() as client:
        assert client.delete("/api/v1/proof/whole").status_code == 401
        assert client.get("/api/v1/proof/half").status_code == 401
        assert client.get("/api/v1/proof/inherited").status_code == 200
    assert auth.declaration_of(Whole.delete) == auth.Declaration(auth.PERMISSION, ("proof:write",))


# -- the per-route permission matrix ---------------------------------------------------------------


@pytest.fixture
def seeded(app, admin):
    tenant, args = seed_tenant(admin)
    return {"tenant": tenant, "owner": admin, "args": args}


def test_each_route_refuses_a_token_that_lacks_its_permissions(app, client, seeded):
    calls = permission_calls(app, seeded["args"])
    everything = set(catalog.permissions)
    tokens: dict[tuple[str, ...], str] = {}
    wrong = {}
    for method, path, permissions in calls:
        missing = tuple(sorted(permissions))
        if missing not in tokens:
            tokens[missing] = make_token(seeded["owner"], scopes=sorted(everything - set(missing)))
        response = _send(client, method, path, tokens[missing])
        if response.status_code != 403:
            wrong[f"{method} {path} (needs {', '.join(missing)})"] = response.status_code
    assert not wrong, f"answered without the declared permission: {wrong}"


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_each_route_refuses_a_member_whose_role_lacks_its_permissions(app, client, seeded, role):
    """The same through roles: a member of the tenant (a plain user of the platform) whose built-in
    role lacks a route's permission is refused, at the tenant and at the platform."""
    token = make_token(make_member(seeded["tenant"], role))
    at_tenant = catalog.tenant_role_permissions(role)
    at_platform = catalog.platform_role_permissions("user")
    wrong, checked = {}, 0
    for method, path, permissions in permission_calls(app, seeded["args"]):
        held = at_tenant if _tenant_path(path, seeded["tenant"]) else at_platform
        if set(permissions) <= held:
            continue
        checked += 1
        response = _send(client, method, path, token)
        if response.status_code != 403:
            wrong[f"{method} {path} (needs {', '.join(permissions)})"] = response.status_code
    assert checked and not wrong, f"answered a {role} without the permission: {wrong}"


def _tenant_path(path: str, tenant) -> bool:
    return path.startswith((f"/t/{tenant.slug}/", f"/api/v1/tenants/{tenant.slug}/")) \
        or path in (f"/t/{tenant.slug}", f"/api/v1/tenants/{tenant.slug}")


def test_each_route_lets_the_holder_of_its_permissions_past(app, client, seeded):
    token = make_token(seeded["owner"])
    wrong = {}
    for method, path, permissions in permission_calls(app, seeded["args"]):
        response = _send(client, method, path, token)
        if response.status_code in (401, 403) or response.status_code >= 500:
            wrong[f"{method} {path} (needs {', '.join(permissions)})"] = response.status_code
    assert not wrong, f"refused (or failed) with every permission held: {wrong}"


def test_each_route_asks_the_anonymous_to_sign_in(app, client, seeded):
    wrong = {}
    declared = [(rule, method) for rule, method, d in auth.route_declarations(app)
                if d is not None and d.kind in (auth.PERMISSION, auth.LOGIN)]
    for rule, method in declared:
        path = build_path(rule, seeded["args"])
        if path is None:
            continue  # the matrix above names it
        response = _send(client, method, path, None)
        # An event stream answers as the API does: an EventSource follows no sign-in page.
        stream = getattr(app.view_functions.get(rule.endpoint), "_taiji_live", False)
        signing_in = (response.status_code == 401 if path.startswith("/api/") or stream else
                      response.status_code == 302 and response.headers["Location"].startswith("/login"))
        if not signing_in:
            wrong[f"{method} {path}"] = response.status_code
    assert not wrong, f"answered an anonymous caller: {wrong}"


# -- protocol routes ---------------------------------------------------------------------------------


def _protocol_walk(app, seeded):
    from taiji.platform.db import db

    calls = protocol_calls(app, seeded["tenant"], seeded["owner"], seeded["args"])
    db.session.commit()
    # The holder's DELETE removes the file the reads name: reads and writes first.
    return sorted(calls, key=lambda call: (call[0] == "DELETE", call[1], call[0]))


def _not_smart_http(path: str, response) -> bool:
    """git's route answers 404 before any check for a service its method does not serve."""
    return path.startswith("/git/") and response.status_code == 404 and b"smart-HTTP" in response.data


def test_each_protocol_route_refuses_a_token_that_lacks_its_permissions(app, client, seeded):
    everything = set(catalog.permissions)
    wrong = {}
    for method, path, permissions in _protocol_walk(app, seeded):
        token = make_token(seeded["owner"], scopes=sorted(everything - set(permissions)))
        for header in (f"Bearer {token}", "Basic " + base64.b64encode(f"token:{token}".encode()).decode()):
            response = client.open(path, method=method, headers={"Authorization": header}, data=b"")
            if response.status_code != 403 and not _not_smart_http(path, response):
                wrong[f"{method} {path} {header.split()[0]}"] = response.status_code
    assert not wrong, f"answered without the declared permissions: {wrong}"


def test_each_protocol_route_lets_the_holder_of_its_permissions_past(app, client, seeded):
    token = make_token(seeded["owner"])
    wrong = {}
    for method, path, _permissions in _protocol_walk(app, seeded):
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, data=b"")
        if response.status_code in (401, 403) or response.status_code >= 500:
            wrong[f"{method} {path}"] = (response.status_code, response.get_data(as_text=True)[:200])
    assert not wrong, f"refused (or failed) with every permission held: {wrong}"
