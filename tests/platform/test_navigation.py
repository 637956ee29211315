"""The tenant menu in sections (Code / Build / Deploy / Operate / Manage), the breadcrumbs of tenant,
administration and personal pages, the menu toggle for narrow screens, and the kernel's refusal of
a menu entry naming an unknown section. Read from the rendered pages, as a browser would get them."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.factories import ISOLATION_SEEDERS, make_member


class _Page(HTMLParser):
    """The menu (sections and their entries), the breadcrumbs, and the toggle of a console page."""

    def __init__(self, html: str):
        super().__init__()
        self.menu: list[tuple[str, list[str]]] = []  # (section title or "", [entry labels])
        self.links: dict[str, str] = {}  # menu entry label -> href
        self.crumbs: list[tuple[str, str | None]] = []  # (text, href or None)
        self.toggle: dict | None = None
        self.collapse: dict | None = None
        self._in = None  # "group", "entry", "crumb"
        self._href = None
        self._text = ""
        self._in_crumbs = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        testid = attrs.get("data-testid")
        if testid == "menu-toggle":
            self.toggle = attrs
        if testid == "sidebar-menu":
            self.collapse = attrs
        if testid == "breadcrumbs":
            self._in_crumbs = True
        if testid == "nav-group":
            self._in, self._text = "group", ""
        elif testid == "nav-entry":
            self._in, self._text = "entry", ""
        elif tag == "li" and self._in_crumbs:
            self._in, self._text, self._href = "crumb", "", None
        if tag == "a" and self._in in ("entry", "crumb"):
            self._href = attrs.get("href")

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "ol" and self._in_crumbs:
            self._in_crumbs = False
        if tag != "li" or not self._in:
            return
        text = " ".join(self._text.split())
        if self._in == "group":
            self.menu.append((text, []))
        elif self._in == "entry":
            if not self.menu:
                self.menu.append(("", []))
            self.menu[-1][1].append(text)
            self.links[text] = self._href
        else:
            self.crumbs.append((text, self._href))
        self._in = None


@pytest.fixture
def owner_client(login, client, tenant):
    login(make_member(tenant, "owner"))
    return client


def _page(client, url) -> _Page:
    response = client.get(url)
    assert response.status_code == 200, url
    return _Page(response.get_data(as_text=True))


def test_the_tenant_menu_is_in_sections_in_order(owner_client, tenant):
    page = _page(owner_client, f"/t/{tenant.slug}/members")
    titles = [title for title, _ in page.menu]
    assert titles == ["", "Code", "Build", "Deploy", "Operate", "Manage"]
    menu = dict(page.menu)
    assert menu[""] == ["Overview"]
    # Each section holds these entries in this order; more modules add entries of their own.
    def in_order(section, expected):
        entries = [entry for entry in menu[section] if entry in expected]
        assert entries == expected, (section, menu[section])

    in_order("Code", ["Products", "Repositories"])
    in_order("Build", ["Pipelines"])
    in_order("Deploy", ["Packages"])
    # The transaction engine's deliveries sit under Transactions, not as a personal inbox.
    in_order("Operate", ["Transactions", "Notifications", "Messages"])
    assert menu["Operate"].index("Messages") == menu["Operate"].index("Transactions") + 2
    assert menu["Manage"][0] == "Members"
    assert {"Roles", "Groups", "Audit log", "Settings"} <= set(menu["Manage"])
    for label, href in page.links.items():
        assert owner_client.get(href).status_code == 200, (label, href)


def test_the_tenant_menu_in_chinese(owner_client, tenant):
    owner_client.post("/locale", data={"locale": "zh_Hans"})
    page = _page(owner_client, f"/t/{tenant.slug}/members")
    assert [title for title, _ in page.menu] == ["", "代码", "构建", "部署", "运维", "管理"]
    menu = dict(page.menu)
    assert "成员" in menu["管理"]
    assert menu["构建"] == ["流水线"]
    # The verification code of the sign-in form keeps its own translation.
    assert "验证码" not in [title for title, _ in page.menu]


def test_a_member_sees_only_sections_with_entries_for_them(login, client, tenant):
    login(make_member(tenant, "member"))
    page = _page(client, f"/t/{tenant.slug}/")
    titles = [title for title, _ in page.menu]
    assert titles == sorted(titles, key=["", "Code", "Build", "Deploy", "Operate", "Manage"].index)
    assert all(entries for _, entries in page.menu)
    assert "Settings" not in page.links
    assert page.crumbs == [(tenant.name, None)]  # the tenant's own page: the trail is the tenant


def _follow(client, crumbs):
    for text, href in crumbs:
        if href:
            assert client.get(href).status_code == 200, (text, href)


def test_breadcrumbs_of_the_members_page(owner_client, tenant):
    page = _page(owner_client, f"/t/{tenant.slug}/members")
    assert page.crumbs == [(tenant.name, f"/t/{tenant.slug}/"), ("Manage", None), ("Members", None)]
    _follow(owner_client, page.crumbs)


def test_breadcrumbs_of_a_repository_page(owner_client, tenant, admin):
    repo = ISOLATION_SEEDERS["repo"](tenant, admin, {})
    from taiji.platform.db import db

    db.session.commit()
    page = _page(owner_client, f"/t/{tenant.slug}/repositories/{repo}")
    assert page.crumbs[:3] == [(tenant.name, f"/t/{tenant.slug}/"), ("Code", None),
                               ("Repositories", f"/t/{tenant.slug}/repositories")]
    assert page.crumbs[-1] == (repo, None)
    _follow(owner_client, page.crumbs)


def test_breadcrumbs_of_a_pipeline_page(owner_client, tenant, admin):
    from taiji.platform.db import db

    known = {"repository": ISOLATION_SEEDERS["repository"](tenant, admin, {})}
    pipeline_id = ISOLATION_SEEDERS["pipeline_id"](tenant, admin, known)
    db.session.commit()
    page = _page(owner_client, f"/t/{tenant.slug}/pipelines/{pipeline_id}")
    assert page.crumbs[:3] == [(tenant.name, f"/t/{tenant.slug}/"), ("Build", None),
                               ("Pipelines", f"/t/{tenant.slug}/pipelines")]
    assert page.crumbs[-1][0].startswith(known["repository"])
    _follow(owner_client, page.crumbs)


def test_breadcrumbs_of_a_job_page_pass_by_its_pipeline(owner_client, tenant, admin):
    from taiji.platform.db import db

    known = {"repository": ISOLATION_SEEDERS["repository"](tenant, admin, {})}
    known["pipeline_id"] = ISOLATION_SEEDERS["pipeline_id"](tenant, admin, known)
    job_id = ISOLATION_SEEDERS["job_id"](tenant, admin, known)
    db.session.commit()
    page = _page(owner_client, f"/t/{tenant.slug}/jobs/{job_id}")  # under no menu entry's URL
    texts = [text for text, _ in page.crumbs]
    assert texts[:3] == [tenant.name, "Build", "Pipelines"]
    assert page.crumbs[3][1] == f"/t/{tenant.slug}/pipelines/{known['pipeline_id']}"
    assert texts[4].startswith("build · ")
    _follow(owner_client, page.crumbs)


def test_breadcrumbs_of_a_child_entry_name_its_parent(owner_client, tenant):
    page = _page(owner_client, f"/t/{tenant.slug}/notifications")
    assert page.crumbs == [(tenant.name, f"/t/{tenant.slug}/"), ("Operate", None),
                           ("Transactions", f"/t/{tenant.slug}/transactions"), ("Notifications", None)]


def test_breadcrumbs_in_chinese(owner_client, tenant):
    owner_client.post("/locale", data={"locale": "zh_Hans"})
    page = _page(owner_client, f"/t/{tenant.slug}/members")
    assert [text for text, _ in page.crumbs] == [tenant.name, "管理", "成员"]


def test_the_menu_collapses_behind_a_toggle(owner_client, tenant):
    page = _page(owner_client, f"/t/{tenant.slug}/members")
    assert page.toggle["data-bs-toggle"] == "collapse"
    assert page.toggle["data-bs-target"] == "#sidebar-menu" and page.toggle["aria-controls"] == "sidebar-menu"
    assert page.toggle.get("aria-label")
    assert page.collapse["id"] == "sidebar-menu"
    assert set(page.collapse["class"].split()) >= {"collapse", "navbar-collapse"}


def test_every_table_of_the_console_sits_in_a_scrolling_box():
    """A wide table scrolls inside its card (``.table-responsive``) instead of pushing its buttons
    off the page; the browser test (tests/e2e/test_navigation.py) measures it at 1280 px."""
    root = Path(__file__).resolve().parents[2] / "taiji"
    bare = []
    for template in root.glob("**/templates/**/*.html"):
        text = template.read_text()
        for table in re.finditer(r"<table\b[^>]*>", text):
            if "highlight" in table.group(0):  # source code (Pygments' line table), in its own box
                continue
            opened = text[: table.start()].rsplit("<table", 1)[-1]
            if "table-responsive" not in opened[-400:]:
                bare.append(f"{template.relative_to(root)}:{text.count(chr(10), 0, table.start()) + 1}")
    assert bare == []


def _switcher(html: str) -> tuple[list[str], str | None]:
    """The tenant switcher's options (their addresses) and the chosen one."""
    box = re.search(r'data-testid="tenant-switcher".*?</select>', html, re.S)
    if box is None:
        return [], None
    options = re.findall(r'<option value="([^"]*)"\s*(selected)?', box.group(0))
    return [value for value, _ in options if value], next((v for v, chosen in options if chosen), None)


def test_the_profile_keeps_the_tenant_it_was_opened_from(login, client, tenant):
    from taiji.modules.tm import services as tm
    from taiji.platform.auth import Principal
    from taiji.platform.db import db
    from tests.factories import make_tenant

    system = Principal(user_id=0, email="system", name="system", is_admin=True, via="test")
    user = make_member(tenant, "member")
    other = make_tenant()
    tm.add_member(other, user.email, "member", actor=system)
    db.session.commit()
    login(user)
    # No tenant page seen yet: the profile has no tenant menu, the switcher asks for one.
    assert _page(client, "/profile").menu == []
    assert _switcher(client.get("/profile").get_data(as_text=True))[1] is None

    _page(client, f"/t/{tenant.slug}/pipelines")
    for url in ("/profile", "/profile/tokens", "/profile/sessions"):
        html = client.get(url).get_data(as_text=True)
        page = _Page(html)
        assert "Pipelines" in page.links, url
        assert all(href.startswith(f"/t/{tenant.slug}/") for href in page.links.values()), url
        assert _switcher(html)[1] == f"/t/{tenant.slug}/", url
        assert page.crumbs[0] == (tenant.name, f"/t/{tenant.slug}/"), url  # the way back
        _follow(client, page.crumbs)
    # The last tenant seen is the one kept.
    _page(client, f"/t/{other.slug}/")
    page = _page(client, "/profile")
    assert all(href.startswith(f"/t/{other.slug}/") for href in page.links.values())
    assert page.crumbs[0] == (other.name, f"/t/{other.slug}/")

    # Removed from that tenant since: the profile shows neither its menu nor it in the switcher.
    tm.remove_member(other, user.id, actor=system)
    db.session.commit()
    html = client.get("/profile").get_data(as_text=True)
    assert _Page(html).menu == [] and _Page(html).crumbs == [("Profile", None)]
    options, chosen = _switcher(html)
    assert f"/t/{other.slug}/" not in options and chosen is None
    assert f"/t/{tenant.slug}/" in options
    assert other.name not in html


def _argument_values(app, admin, tenant, browser) -> dict[str, str]:
    """A value for each URL argument of the administration and personal pages: a real one (the
    tenant's creation saga, an OAuth client registered through the console), or one refused."""
    import sqlalchemy as sa

    from taiji.modules.iam.oauth.models import OAuthClient
    from taiji.platform.db import db
    from taiji.platform.tx import services as tx

    browser.post("/admin/clients", data={"name": "Crumbs", "grant_client_credentials": "on"})
    client_id = db.session.execute(
        sa.select(OAuthClient.client_id).where(OAuthClient.name == "Crumbs")).scalar_one()
    saga = tx.list_transactions(tenant=None, business_key=f"tenant:{tenant.slug}").items[0]
    return {"client_id": client_id, "gid": saga.gid, "token": "not-a-mailed-token"}


def test_every_administration_and_personal_page_has_breadcrumbs(app, login, admin, tenant):
    """Walks the URL map: every page under /admin and /profile reads "Administration > entry" or
    "Profile > …", opened with no tenant page seen before, and its links lead somewhere."""
    browser = login(admin)
    values = _argument_values(app, admin, tenant, browser)
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith(("/admin", "/profile")):
            continue
        missing = set(rule.arguments) - set(values)
        assert not missing, f"{rule.rule}: give _argument_values a value for {missing}"
        pages.append(re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values[m.group(1)], rule.rule))
    assert {"/admin/users", "/admin/tenants", "/profile", "/profile/tokens"} <= set(pages)
    for url in sorted(pages):
        response = browser.get(url)
        assert response.status_code < 500 and response.status_code != 302, url
        page = _Page(response.get_data(as_text=True))
        assert page.crumbs, url
        first = page.crumbs[0][0]
        assert first in ("Administration", "Profile", "Personal access tokens"), (url, page.crumbs)
        assert tenant.name not in [text for text, _ in page.crumbs], url
        _follow(browser, page.crumbs)


def test_breadcrumbs_of_administration_pages(login, admin, tenant):
    from taiji.platform.tx import services as tx

    client = login(admin)
    assert _page(client, "/admin/users").crumbs == [("Administration", None), ("Users", None)]
    assert _page(client, "/admin/tenants").crumbs == [("Administration", None), ("Tenants", None)]
    saga = tx.list_transactions(tenant=None, business_key=f"tenant:{tenant.slug}").items[0]
    crumbs = _page(client, f"/admin/transactions/{saga.gid}").crumbs
    assert crumbs[:2] == [("Administration", None), ("Transactions", "/admin/transactions")]
    assert len(crumbs) == 3 and saga.gid in crumbs[2][0] and crumbs[2][1] is None
    client.post("/locale", data={"locale": "zh_Hans"})
    assert [text for text, _ in _page(client, "/admin/users").crumbs] == ["平台管理", "用户"]


def test_breadcrumbs_of_personal_pages(login, client, tenant):
    login(make_member(tenant, "member"))
    assert _page(client, "/profile").crumbs == [("Profile", None)]
    assert _page(client, "/profile/sessions").crumbs[0] == ("Profile", "/profile")
    assert _page(client, "/profile/tokens").crumbs == [("Personal access tokens", None)]
    # Opened from a tenant, the way back to it comes first.
    _page(client, f"/t/{tenant.slug}/")
    assert _page(client, "/profile/sessions").crumbs[:2] == [(tenant.name, f"/t/{tenant.slug}/"),
                                                           ("Profile", "/profile")]
