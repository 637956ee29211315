"""The console shell: layout, navigation built from the registered modules, languages."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request, session, url_for
from flask_babel import Babel, format_decimal
from flask_babel import lazy_gettext as _l

from taiji.platform import api as api_mod
from taiji.platform import auth, tenancy
from taiji.platform.web import formerrors, text

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


def kernel_url(role: str, **values) -> str:
    """The URL of the page an enabled module provides for ``role`` (``Module.kernel_endpoints``):
    "login", "logout", "set_locale", "home", "tenant_home". The kernel's pages name no module."""
    from taiji.platform import registry

    endpoint = registry.current().kernel_endpoints.get(role)
    if endpoint is None:
        raise LookupError(f"no enabled module provides the {role!r} page (Module.kernel_endpoints)")
    return url_for(endpoint, **values)


def has_kernel_endpoint(role: str) -> bool:
    from taiji.platform import registry

    return role in registry.current().kernel_endpoints


def select_locale() -> str:
    """The user's saved choice, then this browser's choice, then Accept-Language.

    An API request, or any request made with a token (git, PyPI, file protocols), speaks the
    language of its ``Accept-Language`` when Taiji has it, else English: a script's answers do not
    change with its owner's console preference.
    """
    languages = current_app.config["LANGUAGES"]
    if request and api_mod.is_api_request():
        return _accepted(request) or "en"
    principal = auth.current_principal() if request else None
    if principal is not None and principal.via != "session":
        return _accepted(request) or "en"
    if principal is not None and principal.locale in languages:
        return principal.locale
    chosen = session.get("locale") if request else None  # outside a request: a task, a test
    if chosen in languages:
        return chosen
    return (_accepted(request) if request else None) or current_app.config.get("DEFAULT_LOCALE", "en")


def _accepted(req) -> str | None:
    """Chinese when the request's Accept-Language prefers it to English; else None."""
    best = req.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans"])
    return "zh_Hans" if best and best.startswith("zh") else None


def nav_for(scope: str, tenant=None) -> list:
    """Entries of ``scope`` that the caller may use, in order."""
    items = []
    for module in current_app.extensions["taiji_modules"]:
        for item in module.nav:
            if item.scope != scope:
                continue
            if item.permission and not auth.can(item.permission, tenant if scope == "tenant" else None):
                continue
            items.append(item)
    return sorted(items, key=lambda i: (i.order, str(i.label)))


def nav_sections(items: list) -> list[dict]:
    """The tenant menu in sections: first the entries of no group (the overview), then one section
    per kernel group (``NAV_GROUPS``) that has an entry, in the groups' order. Each section is
    ``{"group": NavGroup or None, "entries": [(item, [its child items]), ...]}``."""
    from taiji.platform.module import NAV_GROUPS

    children: dict[str, list] = {}
    for item in items:
        if item.parent is not None:
            children.setdefault(item.parent, []).append(item)
    by_group: dict[str | None, list] = {}
    for item in items:
        if item.parent is None:
            by_group.setdefault(item.group, []).append((item, children.get(item.endpoint, [])))
    sections = [{"group": None, "entries": by_group[None]}] if None in by_group else []
    for group in sorted(NAV_GROUPS.values(), key=lambda g_: g_.order):
        if group.key in by_group:
            sections.append({"group": group, "entries": by_group[group.key]})
    return sections


def _entry_of(items: list, url_of, skip: str | None = None) -> tuple:
    """The menu entry the page belongs to: the entry whose endpoint the page is, else whose URL is
    the longest prefix of the page's (``skip``: a URL that is no prefix, e.g. the tenant's home);
    with ``{endpoint: url}`` of every entry."""
    path = request.path.rstrip("/")
    matched, length, urls = None, -1, {}
    for item in items:
        url = urls[item.endpoint] = url_of(item.endpoint)
        base = url.rstrip("/")
        if request.endpoint == item.endpoint:
            matched, length = item, 1 << 30
        elif url != skip and (path == base or path.startswith(base + "/")) and len(base) > length:
            matched, length = item, len(base)
    return matched, urls


def breadcrumbs(tenant, items: list) -> tuple[list[tuple], bool]:
    """The trail of a tenant page: the tenant, the menu section and the entry the page belongs to
    (the entry whose endpoint the page is, else whose URL is the longest prefix of the page's, else
    the first entry of the page's blueprint), as
    ``[(label, url or None), ...]``; and whether the page *is* that entry's page. The layout adds
    the page's own crumbs (a template's ``breadcrumbs`` list, then its title) after them."""
    from taiji.platform.module import NAV_GROUPS

    home = kernel_url("tenant_home", tenant=tenant.slug) if has_kernel_endpoint("tenant_home") else None
    trail: list[tuple] = [(tenant.name, home)]
    matched, urls = _entry_of(items, lambda endpoint: url_for(endpoint, tenant=tenant.slug), skip=home)
    if matched is None:  # a page outside every entry's URL (a job's): the first entry of its blueprint
        blueprint = request.blueprint
        matched = next((i for i in items if blueprint and i.endpoint.rpartition(".")[0] == blueprint), None)
    if matched is None:
        return trail, False
    if matched.group is not None:
        trail.append((NAV_GROUPS[matched.group].title, None))
    parent = next((i for i in items if i.endpoint == matched.parent), None) if matched.parent else None
    if parent is not None:
        trail.append((parent.label, urls[parent.endpoint]))
    trail.append((matched.label, urls[matched.endpoint]))
    if home == urls[matched.endpoint]:  # the tenant's own page (its overview)
        trail.pop()
    return trail, request.endpoint == matched.endpoint or request.path == urls[matched.endpoint]


def account_breadcrumbs(platform_items: list, user_items: list, kept=None) -> tuple[list[tuple], bool]:
    """The trail of a page of no tenant, like ``breadcrumbs``: platform administration reads
    "Administration > Users", the caller's own pages "Profile > Sessions", after the tenant they
    came from when it is kept (the way back to it). A page of neither kind has no trail."""
    trail: list[tuple] = []
    if kept is not None and has_kernel_endpoint("tenant_home"):
        trail.append((kept.name, kernel_url("tenant_home", tenant=kept.slug)))
    for section, items in ((None, user_items), (_l("Administration"), platform_items)):
        matched, urls = _entry_of(items, url_for)
        if matched is None:
            continue
        if section is not None:
            trail.append((section, None))
        trail.append((matched.label, urls[matched.endpoint]))
        return trail, request.endpoint == matched.endpoint or request.path == urls[matched.endpoint]
    return trail, False


def _my_tenants(principal, current) -> list:
    if principal is None or auth.registry.tenant_ids_of is None:
        return []
    ids = set(auth.registry.tenant_ids_of(principal.user_id))
    if current is not None:
        ids.add(current.id)
    return tenancy.tenants_by_ids(ids)


def nav_badges(principal, items, tenant=None) -> dict[str, int]:
    """endpoint -> the number to show beside a menu entry (computed only where declared): a user
    entry's badge is called with the principal, a tenant entry's with the principal and ``tenant``.
    Each is computed once per request (the layout and the page may both ask)."""
    if principal is None:
        return {}
    cache = g.setdefault("taiji_nav_badges", {})
    counts = {}
    for item in items:
        if item.badge is None:
            continue
        key = (item.endpoint, getattr(tenant, "id", None))
        if key not in cache:
            cache[key] = item.badge(principal, tenant) if item.scope == "tenant" else item.badge(principal)
        counts[item.endpoint] = cache[key]
    return {endpoint: n for endpoint, n in counts.items() if n}


LAST_TENANT = "taiji_last_tenant"  # the session's key: the slug of the tenant whose page was last shown


def _personal_page(nav_user: list) -> bool:
    """Whether the request is for one of the caller's own pages: a user menu entry's (the profile,
    tokens, invitations) or one under its URL (the profile's sessions, two-factor setup)."""
    if not request or request.endpoint is None:
        return False
    path = request.path.rstrip("/")
    for item in nav_user:
        if request.endpoint == item.endpoint:
            return True
        base = url_for(item.endpoint).rstrip("/")
        if base and path.startswith(base + "/"):
            return True
    return False


def _kept_tenant(principal, nav_user: list):
    """On the caller's own pages, the tenant they came from (remembered in the session by the last
    tenant page shown), so its menu and switcher stay: only while they may still open it."""
    if principal is None or principal.via != "session" or not _personal_page(nav_user):
        return None
    slug = session.get(LAST_TENANT)
    if not slug:
        return None
    tenant = tenancy.tenant_by_slug(slug) if isinstance(slug, str) else None
    if tenant is None or not (auth.access(tenant).member or principal.is_admin) \
            or not (tenant.is_active or principal.is_admin):
        session.pop(LAST_TENANT, None)  # left, removed or suspended since: forgotten
        return None
    return tenant


def _remember_tenant(principal, tenant) -> None:
    if principal is not None and principal.via == "session" and session.get(LAST_TENANT) != tenant.slug:
        session[LAST_TENANT] = tenant.slug


def _context():
    principal = auth.current_principal()
    tenant = tenancy.current()
    nav_user = nav_for("user") if principal else []
    if principal and tenant and request:
        _remember_tenant(principal, tenant)
    # The tenant of the sidebar: the page's, else on a personal page the one the caller came from.
    kept = _kept_tenant(principal, nav_user) if principal and tenant is None else None
    menu_tenant = tenant or kept
    nav_tenant = nav_for("tenant", menu_tenant) if principal and menu_tenant else []
    nav_platform = nav_for("platform") if principal else []
    trail, on_entry = [], False
    if principal and request and tenant is not None:
        trail, on_entry = breadcrumbs(tenant, nav_tenant)
    elif principal and request:
        trail, on_entry = account_breadcrumbs(nav_platform, nav_user, kept)
    return {
        "principal": principal,
        "current_tenant": tenant,
        "menu_tenant": menu_tenant,
        "my_tenants": _my_tenants(principal, menu_tenant),
        "nav_tenant": nav_tenant,
        "nav_sections": nav_sections(nav_tenant),
        "nav_trail": trail,
        "nav_on_entry": on_entry,
        "nav_platform": nav_platform,
        "nav_user": nav_user,
        "nav_badges": nav_badges(principal, nav_user),
        "tenant_badges": nav_badges(principal, nav_tenant, menu_tenant) if nav_tenant else {},
        "languages": current_app.config["LANGUAGES"],
        "current_locale": select_locale(),
        "can": auth.can,
        "request_id": g.get("request_id"),
    }


def init_app(app, translation_directories: list[str] = ()) -> None:
    """``translation_directories``: the modules' own catalogues, after the platform's."""
    # A Babel of its own per application: its translations cache is per Babel, and apps with other
    # modules (and so other catalogues) must not share it.
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(["translations", *translation_directories])
    Babel().init_app(app, locale_selector=select_locale)
    text.init_app(app)
    formerrors.init_app(app)
    app.register_blueprint(bp)
    auth.public_endpoint(app, "web.static")
    app.context_processor(_context)
    app.jinja_env.filters["number"] = lambda v: format_decimal(v) if v is not None else "∞"
    app.jinja_env.globals["_l"] = _l
    app.jinja_env.globals["kernel_url"] = kernel_url
    app.jinja_env.globals["has_kernel_endpoint"] = has_kernel_endpoint
