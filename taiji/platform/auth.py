"""Who is calling, and ``require(permission)``.

The kernel knows no users: a module (IAM) registers the functions that turn a session or a bearer
token into a ``Principal`` and that resolve a principal's permissions at a scope. Modules
declare their permissions and which built-in roles hold them; ``require`` checks them.

A tenant-scoped URL is answered 404 to anyone who is not a member of that tenant, so a
resource of another tenant is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import wraps

from flask import abort, g, request
from werkzeug.local import LocalProxy

from taiji.platform import tenancy


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    name: str
    is_admin: bool
    via: str  # "session" | "token"
    locale: str | None = None
    # Scopes of the token that authenticated the call; None means "all the user has".
    scopes: frozenset[str] | None = None
    token_id: int | None = None
    # The OAuth client whose access token authenticated the call (None: session or personal token).
    client_id: str | None = None
    # When the credential stops being valid (a token's expiry): a cached principal is not used after it.
    expires_at: dt.datetime | None = None


class PlatformRole(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"


class TenantRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


@dataclass
class PermissionCatalog:
    """Every permission a module declared, and the built-in roles that hold it."""

    permissions: dict[str, str] = field(default_factory=dict)  # name -> description
    tenant_roles: dict[str, set[str]] = field(default_factory=lambda: {r.value: set() for r in TenantRole})
    platform_roles: dict[str, set[str]] = field(
        default_factory=lambda: {r.value: set() for r in PlatformRole})

    def declare(self, enum_cls, tenant_grants=None, platform_grants=None) -> None:
        for member in enum_cls:
            self.permissions[member.value] = getattr(member, "description", member.value)
        for role, perms in (tenant_grants or {}).items():
            self.tenant_roles.setdefault(str(role), set()).update(str(p) for p in perms)
        for role, perms in (platform_grants or {}).items():
            self.platform_roles.setdefault(str(role), set()).update(str(p) for p in perms)

    def tenant_role_permissions(self, role: str) -> set[str]:
        return self.tenant_roles.get(role, set())

    def platform_role_permissions(self, role: str) -> set[str]:
        if role == PlatformRole.ADMIN:
            return set(self.permissions)
        return self.platform_roles.get(role, set())


def _current_registry():
    from taiji.platform import registry as registries

    return registries.current()


# The current application's catalog (taiji.platform.registry): each app has the permissions of its modules.
catalog: PermissionCatalog = LocalProxy(lambda: _current_registry().catalog)  # type: ignore[assignment]


@dataclass
class Access:
    """A principal's standing at one scope: member or not, and what it may do there."""

    member: bool
    permissions: frozenset[str]
    roles: tuple[str, ...] = ()


@dataclass
class AuthProvider:
    """How the kernel recognizes callers: the functions one enabled module provides
    (``Module(auth=AuthProvider(...))``, IAM's). Without one, nobody is signed in."""

    # The Flask session of a console request -> its Principal, or None.
    session_loader: Callable[[dict], Principal | None] | None = None
    # The token of an ``Authorization: Bearer`` header -> its Principal, or None.
    bearer_loader: Callable[[str], Principal | None] | None = None
    # (principal, tenant or None) -> Access
    access_resolver: Callable[[Principal, object | None], Access] | None = None
    # user id -> ids of the tenants the user belongs to (for the tenant switcher)
    tenant_ids_of: Callable[[int], Iterable[int]] | None = None
    # Tables whose rows make up principals and their access: a change to any drops the kernel's
    # cached answers in every process (taiji.platform.authcache).
    watched_tables: tuple[str, ...] = ()
    # The first start of an install (`taiji up`, `taiji web`): the number of accounts, and
    # (email, password) -> create the first platform administrator (flushed, not committed; a refusal
    # raises ServiceError). Without them the kernel creates no account.
    count_accounts: Callable[[], int] | None = None
    create_first_admin: Callable[[str, str], object] | None = None

    def provided(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name != "watched_tables")


# The current application's hooks, registered from the module that provides them (Module.auth).
registry: AuthProvider = LocalProxy(lambda: _current_registry().auth)  # type: ignore[assignment]

_ANON = object()


def current_principal() -> Principal | None:
    cached = g.get("_principal", _ANON)
    if cached is not _ANON:
        return cached
    principal = None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and registry.bearer_loader is not None:
        principal = bearer_principal(header[7:].strip())
        g.auth_attempted = True
    elif not request.path.startswith("/api/") and registry.session_loader is not None:
        from flask import session

        principal = registry.session_loader(session)
    g._principal = principal
    return principal


def _auth_cache():
    """The application's cache of principals and access (taiji.platform.authcache) and the
    generation this request checks it against, read once per request; (None, None) when off."""
    cache = _current_registry().auth_cache
    if cache is None:
        return None, None
    generation = g.get("_auth_generation", _ANON)
    if generation is _ANON:
        generation = g._auth_generation = cache.generation()
    return cache, generation


def bearer_principal(token: str) -> Principal | None:
    """The principal of a bearer token (the registered loader's answer, kept between requests)."""
    loader = registry.bearer_loader
    if loader is None:
        return None
    cache, generation = _auth_cache()
    if generation is None:
        return loader(token)
    key = ("token", hashlib.sha256(token.encode()).digest())
    principal = cache.get(key, generation)
    if principal is None:
        principal = loader(token)
        cache.put(key, generation, principal)
    return principal


def _resolve_access(principal: Principal, tenant) -> Access:
    cache, generation = _auth_cache() if principal.via == "token" else (None, None)
    if generation is None:
        return registry.access_resolver(principal, tenant)
    key = ("access", principal.user_id, principal.is_admin, getattr(tenant, "id", None))
    resolved = cache.get(key, generation)
    if resolved is None:
        resolved = registry.access_resolver(principal, tenant)
        cache.put(key, generation, resolved)
    return resolved


def _tenant_by_slug(slug: str):
    """tenancy.tenant_by_slug, its columns kept with the principals (kernel_tenant is watched)."""
    cache, generation = _auth_cache()
    if generation is None:
        return tenancy.tenant_by_slug(slug)
    key = ("tenant", slug)
    values = cache.get(key, generation)
    if values is not None:
        return tenancy.attach(values)
    tenant = tenancy.tenant_by_slug(slug)
    if tenant is not None:
        cache.put(key, generation, tenancy.values_of(tenant))
    return tenant


def set_principal(principal: Principal | None) -> None:
    g._principal = principal
    g.pop("_access", None)


def access(tenant=None) -> Access:
    """The current principal's access at ``tenant`` (platform scope when None), cached per request."""
    principal = current_principal()
    if principal is None or registry.access_resolver is None:
        return Access(member=False, permissions=frozenset())
    key = getattr(tenant, "id", None)
    cache = g.setdefault("_access", {})
    if key not in cache:
        resolved = _resolve_access(principal, tenant)
        if principal.scopes is not None:
            resolved = Access(resolved.member, resolved.permissions & principal.scopes, resolved.roles)
        cache[key] = resolved
    return cache[key]


def can(permission: str, tenant=None) -> bool:
    return str(permission) in access(tenant).permissions


def enforce_tenant_membership() -> None:
    """Before every request on a ``<tenant>`` URL: unknown tenant or non-member -> 404.

    Once the caller passed, the URL's ``tenant`` argument becomes the ``Tenant`` itself, so a view's
    ``tenant`` parameter is the object (``str(tenant)`` is its slug, so URLs still build from it).
    Idempotent: a hook that must see the tenant before this one runs calls ``url_tenant()``.
    """
    view_args = request.view_args or {}
    slug = view_args.get("tenant")
    if slug is None or isinstance(slug, tenancy.Tenant):
        return
    principal = current_principal()
    if principal is None:
        # Every tenant's page needs a signed-in caller, even one whose route forgot require();
        # answering before resolving the tenant tells an anonymous caller nothing about which exist.
        abort(401)
    if not re.match(tenancy.SLUG_PATTERN, slug):
        abort(404, description="No such tenant.")
    tenant = _tenant_by_slug(slug) if principal.via == "token" else tenancy.tenant_by_slug(slug)
    # Not yet the request's tenant (g.tenant): a page answering a non-member (the 404 page's
    # tenant switcher, say) must not be able to show anything of it.
    if tenant is None or not (access(tenant).member or principal.is_admin):
        abort(404, description=f"No tenant '{slug}'.")
    g.tenant = tenant
    if not tenant.is_active and not principal.is_admin:
        abort(403, description=f"Tenant '{slug}' is suspended. "
                               "Ask a platform administrator to reactivate it.")
    request.view_args["tenant"] = tenant


def url_tenant():
    """The URL's tenant for a caller who may open it (the membership check runs here if it has not
    yet), or None on a URL without one. Never resolves a tenant for a caller who is not a member."""
    if "tenant" not in (request.view_args or {}):
        return None
    enforce_tenant_membership()
    return request.view_args["tenant"]


# -- how a route declares its access -----------------------------------------------------------
# Every view of the URL map says who may call it, in one of four ways; ``undeclared_routes`` lists
# the views that say nothing, and a test of the full application fails on any.
#   require(p, ...)   the caller must hold every permission (at the URL's tenant, else the platform)
#   require_login     any signed-in user (require() with no permission)
#   public            anyone, signed in or not (health checks, sign-in pages, discovery, static files)
#   protocol(p, ...)  a wire protocol (git, PyPI, a registry): the view authenticates and authorizes
#                     through taiji.platform.protocol_auth, and may check any of the permissions named

PERMISSION, LOGIN, PUBLIC, PROTOCOL = "permission", "login", "public", "protocol"
_ACCESS = "_taiji_access"
_HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


@dataclass(frozen=True)
class Declaration:
    kind: str  # PERMISSION | LOGIN | PUBLIC | PROTOCOL
    permissions: tuple[str, ...] = ()


def _declare(target, declaration: Declaration, wrap=None):
    """Record ``declaration`` on a view function, or on each HTTP method of a MethodView class that
    does not declare its own, inherited ones included (wrapped by ``wrap``, else passed through, so
    that a base class's function is never marked for its subclass)."""
    if isinstance(target, type):
        setattr(target, _ACCESS, declaration)
        for name in _HTTP_METHODS:
            method = getattr(target, name, None)
            if method is not None and declaration_of(method) is None:
                setattr(target, name, wrap(method) if wrap else _marked(_passthrough(method), declaration))
        return target
    return wrap(target) if wrap else _marked(target, declaration)


def _passthrough(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    return wrapper


def _marked(view, declaration: Declaration):
    setattr(view, _ACCESS, declaration)
    if declaration.kind in (PERMISSION, LOGIN):
        view._taiji_permissions = declaration.permissions
    return view


def declaration_of(view) -> Declaration | None:
    return getattr(view, _ACCESS, None)


def require(*permissions: str, tenant_scoped: bool | None = None):
    """Route decorator: the caller must be signed in and hold every permission.

    On a ``<tenant>`` URL the permissions are checked at that tenant; elsewhere at the platform.
    On a MethodView class it applies to each HTTP method that does not declare its own access.
    """
    declaration = Declaration(PERMISSION if permissions else LOGIN, tuple(str(p) for p in permissions))

    def wrap(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                abort(401)
            tenant = tenancy.current() if tenant_scoped in (None, True) else None
            missing = [p for p in permissions if not can(p, tenant)]
            if missing:
                abort(403, description=f"You need the permission {', '.join(missing)} for this.")
            return view(*args, **kwargs)

        return _marked(wrapper, declaration)

    def decorator(view):
        return _declare(view, declaration, wrap)

    return decorator


def require_login(view):
    """A page or endpoint any signed-in user may use."""
    return require()(view)


def public(view):
    """A page or endpoint anyone may use without signing in; nothing is checked."""
    return _declare(view, Declaration(PUBLIC))


def protocol(*permissions: str):
    """A wire-protocol endpoint that authenticates and authorizes through ``protocol_auth``
    (HTTP Basic or Bearer with a token, a challenge its clients understand); ``permissions`` are
    those the view may check, for the record and the route walks."""
    declaration = Declaration(PROTOCOL, tuple(str(p) for p in permissions))

    def decorator(view):
        return _declare(view, declaration)

    return decorator


def public_endpoint(app, endpoint: str) -> None:
    """Declare public a view that a library registered (static files, the OpenAPI document)."""
    app.view_functions[endpoint] = public(_passthrough(app.view_functions[endpoint]))


def permissions_of(view) -> Iterable[str]:
    return getattr(view, "_taiji_permissions", ())


IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})  # Flask answers them through GET or by itself


def route_declarations(app) -> list[tuple[object, str, Declaration | None]]:
    """(rule, method, declaration or None) for every rule and method of ``app``'s URL map.

    A MethodView's method is judged by its own declaration (a declaration on the class marks each
    method it has when decorated); a method the class routes but does not define is undeclared."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        view_class = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            if view_class is not None:
                handler = getattr(view_class, method.lower(), None)
                declaration = declaration_of(handler) if handler is not None else None
            else:
                declaration = declaration_of(view)
            found.append((rule, method, declaration))
    return found


def undeclared_routes(app) -> list[str]:
    """``"METHOD /rule (endpoint)"`` of every route of ``app`` that declares no access."""
    return sorted(f"{method} {rule.rule} ({rule.endpoint})"
                  for rule, method, declaration in route_declarations(app) if declaration is None)
