"""A module that authenticates instead of IAM and provides the pages the kernel links to (instead
of IAM's and TM's): enabled with the example module and without those two, the kernel signs people
in, checks their tokens and links its pages through it alone (Module.auth, Module.kernel_endpoints).

One user, "gate@example.test", who is a member of every tenant with the example's permissions:
signed in by POST /gate/login (the session) or by the bearer token below.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, session, url_for

from taiji.platform.auth import Access, AuthProvider, Principal, catalog, public
from taiji.platform.module import Module

TOKEN = "gate-token"
KEEPER = Principal(user_id=1, email="gate@example.test", name="Gatekeeper", is_admin=False, via="session")

bp = Blueprint("gate", __name__)


@bp.route("/gate/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "POST":
        session["gate_user"] = KEEPER.email
        return redirect(request.args.get("next") or url_for("gate.home"))
    return "the gatekeeper's sign-in page"


@bp.post("/gate/logout")
@public
def logout():
    session.pop("gate_user", None)
    return redirect(url_for("gate.login"))


@bp.post("/gate/locale")
@public
def set_locale():
    session["locale"] = request.form.get("locale", "en")
    return redirect(url_for("gate.home"))


@bp.get("/gate/")
@public
def home():
    return "the gatekeeper's start page"


@bp.get("/gate/t/<tenant>")
@public
def tenant_home(tenant):
    return f"the gatekeeper's page of {tenant}"


def _from_session(cookie) -> Principal | None:
    return KEEPER if cookie.get("gate_user") == KEEPER.email else None


def _from_token(token: str) -> Principal | None:
    if token != TOKEN:
        return None
    return Principal(KEEPER.user_id, KEEPER.email, KEEPER.name, False, via="token")


def _access(principal: Principal, tenant) -> Access:
    if tenant is None:
        return Access(member=False, permissions=frozenset())
    return Access(member=True, permissions=frozenset(catalog.tenant_role_permissions("member")),
                  roles=("member",))


module = Module(
    code="gate",
    title="Gatekeeper",
    blueprints=[bp],
    auth=AuthProvider(session_loader=_from_session, bearer_loader=_from_token, access_resolver=_access,
                      tenant_ids_of=lambda user_id: ()),
    kernel_endpoints={"login": "gate.login", "logout": "gate.logout", "set_locale": "gate.set_locale",
                      "home": "gate.home", "tenant_home": "gate.tenant_home"},
)
