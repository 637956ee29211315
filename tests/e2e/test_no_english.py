"""The Chinese console shows no English: each page the suite visits is read once in English and
once in Chinese, and a fragment of visible text that is the same in both and reads as English
words (not a name the test seeded, not code, not a brand) is a string someone forgot to translate.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import PASSWORD, sign_in

TENANT = "lingo"
EMAIL = "lingo@e2e.example"

# What the test seeds: people's content, shown as written in every language.
SEEDED = (
    "Lingo Works", "Lingo Admin", "Mei Member", "webshop", "The web shop of the works",
    "First commit", "Greet politely", "Add a guide", "Add login", "Add the pipeline",
    "Ada Lovelace", "Shop", "The shop service.", "How to run the shop.", "storefront", "Storefront",
    "checkout", "storage", "deploy-key", "build", "test", "reserve", "lingo",
    "main", "docs", "src",  # the seeded branch and folders
    "access", "base",  # the tenant's layers (its catalog rules' own names, "access" by default)
    "dev", "prod",  # the configuration's environments (profile names)
    "Lets people sign in.", "A thought",  # the merge request's description and its inline comment
)

# Words that stay as they are in Chinese, each with why.
ALLOWED_WORDS = {
    "Taiji",  # the product's name
    "Git", "GitLab", "GitHub", "Gitea", "Jenkins",  # tools and forges, by their names
    "Backstage",  # the catalog whose catalog-info.yaml files the import reads
    "PyPI", "Docker", "OCI", "Maven", "npm",  # package formats, by their names
    "OIDC", "LDAP", "SAML", "SSO", "MFA", "TOTP",  # protocols, by their acronyms
    "SBOM", "API", "YAML", "JSON", "HTTP", "HTTPS", "SSH", "URL", "CSV", "SVG",  # formats and acronyms
    "README", "HEAD",  # Git's own names for files and refs
    "KiB", "MiB", "GiB", "UTC",  # units and the time zone, as the filters write them
    "SHA", "TCC", "XA", "Saga", "saga", "tcc",  # transaction kinds and hashes, by their names
    "Tabler",  # the vendored CSS, named in the footer
    "English",  # the language switcher names each language in itself
}

# Elements whose text is code or a person's input, never the console's wording.
_SKIP = ("script, style, pre, code, textarea, .font-monospace, .vcs-diff, [data-testid=highlighted], "
         "[data-testid=readme], [data-testid=audit-table] .small")

# Every visible text node, the placeholders and the options of visible selects, one per entry.
_VISIBLE_TEXT = """skip => {
  const out = [];
  const visible = el => el && el.checkVisibility({visibilityProperty: true, opacityProperty: true});
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    const select = el.closest('select');
    if (!(select ? visible(select) : visible(el))) continue;
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder]')) {
    if (visible(el) && !el.closest(skip)) out.push(el.getAttribute('placeholder'));
  }
  for (const el of document.querySelectorAll('input[type=submit], input[type=button]')) {
    if (visible(el)) out.push(el.value);
  }
  return out;
}"""

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
# Code and identifiers inside a fragment: URLs, emails, paths and file names, shas, numbers.
_CODE = re.compile(r"https?://\S+|\S+@\S+|\S*[/._:=#$<>{}()\[\]-]\S*|\b[0-9a-f]{7,40}\b|\S*\d\S*")
_WORD = re.compile(r"[A-Za-z]{3,}")


def english_words(fragment: str, also: tuple[str, ...] = ()) -> list[str]:
    """The English words of ``fragment`` once seeded names, code and allowed words are taken out."""
    if _CJK.search(fragment):
        return []  # translated (a name or code may sit in a Chinese sentence)
    for name in sorted((*SEEDED, *also), key=len, reverse=True):  # whole names: "play" in "display" stays
        fragment = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", " ", fragment)
    fragment = _CODE.sub(" ", fragment)
    return [word for word in _WORD.findall(fragment) if word not in ALLOWED_WORDS]


def test_english_words_spots_prose_and_spares_names_and_code():
    assert english_words("Save changes") == ["Save", "changes"]
    assert english_words("保存 main") == []
    assert english_words("webshop") == []
    assert english_words("Display", also=("play",)) == ["Display"]
    assert english_words("src/app.py") == []
    assert english_words("1.5 KiB") == []
    assert english_words("ada@example.com 3f2a9c1") == []


def _seed(live_server, tmp_path_factory) -> dict:
    from taiji.modules.cicd import services as cicd
    from taiji.modules.iam import services as iam
    from taiji.modules.spm import services as spm
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs
    from taiji.platform.db import db
    from taiji.platform.tx import services as tx
    from tests.factories import system_principal
    from tests.modules.vcs.fixtures.gitdata import commit_files, seed_shop

    app = live_server.app
    with app.app_context():
        admin = iam.create_user(EMAIL, "Lingo Admin", PASSWORD, admin=True, email_verified=True)
        iam.create_user("mei@e2e.example", "Mei Member", PASSWORD, email_verified=True)
        tenant = tm.create_tenant(TENANT, "Lingo Works", owner_id=admin.id)
        db.session.commit()
        tm.add_member(tenant, "mei@e2e.example", "member", actor=system_principal())
        repo = vcs.create_repository(tenant, {"name": "webshop", "description": "The web shop of the works"})
        db.session.commit()
        shas = seed_shop(vcs.local_git_dir(repo))
        commit_files(vcs.local_git_dir(repo),
                     {".taiji.yml": "jobs:\n  build:\n    script: [echo build]\n"
                                    "  test:\n    needs: [build]\n    script: [echo test]\n"},
                     "Add the pipeline")
        pipeline = cicd.run_pipeline(tenant, "webshop", "main", actor=admin)
        _seed_merge_request(tenant, repo, admin)
        product = spm.create_product(tenant, {"slug": "storefront", "name": "Storefront"})
        checkout = spm.create_component(tenant, product, {"name": "checkout", "layer": "business-process"})
        spm.create_component(tenant, product, {"name": "storage", "layer": "base"})
        spm.add_dependency(tenant, checkout, {"component": "storage", "version_range": "^0.1"})
        spm.release(tenant, product, spm.create_version(tenant, product, "1.0.0"), actor=_principal(admin))
        iam.create_token(admin, "deploy-key")
        _seed_configuration(tenant, admin)
        gid = tx.submit_saga([{"name": "reserve", "action": "http://10.255.255.1/reserve"}],
                             gid="lingo-order-1", tenant=tenant).gid
        db.session.commit()
        ids = {"pipeline": pipeline.id, "job": pipeline.jobs[0].id, "gid": gid, "commit": shas["second"]}
        db.session.remove()
    return ids


def _principal(user):
    from taiji.platform.auth import Principal

    return Principal(user_id=user.id, email=user.email, name=user.name, is_admin=True, via="session")


def _seed_merge_request(tenant, repo, admin) -> None:
    """feature/login proposed into main, with an inline comment on its one new file."""
    from taiji.modules.vcs import services as vcs

    me = _principal(admin)
    mr = vcs.merge_requests.open_merge_request(tenant, repo, {
        "title": "Add login", "description": "Lets people sign in.", "source_branch": "feature/login"},
        actor=me)
    vcs.merge_requests.add_note(tenant, repo, mr, {"body": "A thought", "path": "src/login.py", "line": 1,
                                                   "side": "new"}, actor=me)


def _seed_configuration(tenant, admin) -> None:
    """checkout's configuration in dev: items of two layers and a secret, a published release, a
    change waiting in the draft, a gray release an instance took, a schema, a policy, an access key."""
    from taiji.modules.scm import services as scm

    scm.put_item(tenant, admin, "checkout", "dev", "region", value="eu", layer="tenant")
    scm.put_item(tenant, admin, "checkout", "dev", "timeout", value=5, type="int")
    scm.put_item(tenant, admin, "checkout", "dev", "password", value="hunter2", secret=True, namespace="db")
    scm.publish(tenant, admin, "checkout", "dev", comment="Greet politely")
    scm.put_item(tenant, admin, "checkout", "dev", "timeout", value=8, type="int")
    scm.publish(tenant, admin, "checkout", "dev", gray={"selector": "zone=bj"})
    scm.record_instance(tenant, "checkout", "dev", "pod-1", {"zone": "bj"}, 2)
    scm.put_item(tenant, admin, "checkout", "dev", "timeout", value=9, type="int")
    scm.set_schema(tenant, admin, "checkout", {"type": "object"})
    scm.set_policy(tenant, admin, "prod", four_eyes=True)
    scm.create_access_key(tenant, admin, "dev", "deploy-key")


@pytest.fixture(scope="module")
def seeded(live_server, tmp_path_factory):
    return _seed(live_server, tmp_path_factory)


def pages(ids: dict) -> list[str]:
    t = f"/t/{TENANT}"
    r = f"{t}/repositories/webshop"
    return [
        "/", f"{t}/", f"{t}/members", f"{t}/audit", f"{t}/settings",
        f"{t}/repositories", r, f"{r}/tree/main/src", f"{r}/blob/main/src/app.py", f"{r}/commits/main",
        f"{r}/commit/{ids['commit']}", f"{r}/compare/main...feature/login", f"{r}/branches", f"{r}/settings",
        f"{r}/merge-requests", f"{r}/merge-requests/new", f"{r}/merge-requests/1",
        f"{r}/merge-requests/1?tab=commits", f"{r}/merge-requests/1?tab=changes",
        f"{r}/pipelines", f"{r}/pipelines/settings", f"{t}/repositories/-/deleted",
        f"{t}/pipelines", f"{t}/pipelines/{ids['pipeline']}", f"{t}/jobs/{ids['job']}",
        f"{t}/pipelines/secrets",
        f"{t}/packages", f"{t}/products", f"{t}/products/storefront", f"{t}/catalog/rules",
        f"{t}/products/storefront/components/checkout", f"{t}/products/storefront/edit",
        f"{t}/catalog/import",
        f"{t}/transactions", f"{t}/transactions/{ids['gid']}", f"{t}/notifications", f"{t}/messages",
        f"{t}/roles", f"{t}/roles/owner", f"{t}/groups", f"{t}/settings/directory",
        *_configuration_pages(t),
        "/profile", "/profile/tokens", "/profile/sessions", "/profile/mfa",
        "/admin/users", "/admin/tenants", "/admin/clients", "/admin/domains", "/admin/transactions",
    ]


def _configuration_pages(t: str) -> list[str]:
    c = f"{t}/config/storefront:checkout"
    tabs = ("", "/diff", "/releases", "/instances", "/history", "/transfer", "/schema",
            "/items/edit?key=timeout&namespace=application&layer=environment")
    return [f"{t}/config", f"{t}/config/-/policies", f"{t}/config/-/keys", c,
            *(f"{c}/dev{tab}" for tab in tabs)]


def _names_in_the_database(live_server) -> tuple[str, ...]:
    """Every person's, tenant's and OAuth client's name the served database holds, whichever test
    made them (the administrator's pages list them all): people's content, like SEEDED."""
    from taiji.modules.iam.models import User
    from taiji.modules.iam.oauth.models import OAuthClient
    from taiji.platform.db import db
    from taiji.platform.tenancy import Tenant

    with live_server.app.app_context():
        names = [*db.session.execute(db.select(User.name)).scalars(),
                 *db.session.execute(db.select(Tenant.name)).scalars(),
                 *db.session.execute(db.select(Tenant.slug)).scalars(),
                 *db.session.execute(db.select(OAuthClient.name)).scalars()]
        db.session.remove()
    return tuple(name for name in names if name)


def _choose_language(page, base: str, locale: str) -> None:
    page.goto(f"{base}/")
    with page.expect_navigation():
        page.get_by_test_id("language-switcher").select_option(locale)


# A page is read once the network has been quiet for half a second after it loaded (Playwright's
# "networkidle": whatever the page fetches after loading is in). Read one by one, 84 pages would
# spend 42 s just waiting out those half-seconds; a few tabs loaded one after the other wait them
# out together, and each is read when its own quiet time has passed.
TABS = 6


def _read(context, base: str, paths: list[str]) -> dict[str, list[str]]:
    texts = {}
    tabs = [context.new_page() for _ in range(min(TABS, len(paths)))]
    try:
        for start in range(0, len(paths), len(tabs)):
            batch = list(zip(paths[start:start + len(tabs)], tabs, strict=False))
            for path, tab in batch:
                response = tab.goto(f"{base}{path}")
                assert response is not None and response.ok, f"{path}: {response and response.status}"
            for path, tab in batch:
                tab.wait_for_load_state("networkidle")
                texts[path] = tab.evaluate(_VISIBLE_TEXT, _SKIP)
    finally:
        for tab in tabs:
            tab.close()
    return texts


def test_the_chinese_console_shows_no_english(browser, live_server, seeded):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    try:
        sign_in(page, base, EMAIL)
        # The browser's name (on the sessions page) and everyone's names (on the admin pages).
        names = (page.evaluate("navigator.userAgent"), *_names_in_the_database(live_server))
        paths = pages(seeded)
        _choose_language(page, base, "en")
        english = _read(context, base, paths)
        _choose_language(page, base, "zh_Hans")
        chinese = _read(context, base, paths)
        _choose_language(page, base, "en")
    finally:
        context.close()
    found = []
    for path in paths:
        same = set(english[path]) & set(chinese[path])
        found += [f"{path}: {fragment!r}" for fragment in chinese[path]
                  if fragment in same and english_words(fragment, names)]
    # A word with two meanings is translated for its place: the repository's Code tab is 代码,
    # not the sign-in code (验证码) that shares its English.
    assert "验证码" not in chinese[f"/t/{TENANT}/repositories/webshop"]
    assert not found, f"{len(found)} English fragments on Chinese pages:\n" + "\n".join(dict.fromkeys(found))


# The innermost elements reaching past the window's right edge (what makes a phone scroll sideways).
_WIDER_THAN_WINDOW = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
    && ![...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 8).map(el => el.tagName + '.' + el.className + ' ' + el.textContent.trim().slice(0, 30))"""

SHOTS = ("home", "code", "pipeline", "product", "members", "tokens", "merge-request", "merge-request-changes",
         "repository-settings", "commits", "graph", "component", "audit", "configuration")


@pytest.mark.skipif(not os.environ.get("TAIJI_E2E_SHOTS"),
                    reason="screenshots for review: TAIJI_E2E_SHOTS=1 writes them to build/screenshots")
def test_screenshots_for_review_at_three_widths(browser, live_server, seeded):
    base = live_server.url
    t = f"/t/{TENANT}"
    r = f"{t}/repositories/webshop"
    paths = dict(zip(SHOTS, (f"{t}/", r, f"{t}/pipelines/{seeded['pipeline']}", f"{t}/products/storefront",
                             f"{t}/members", "/profile/tokens", f"{r}/merge-requests/1",
                             f"{r}/merge-requests/1?tab=changes", f"{r}/settings", f"{r}/commits/main",
                             f"{t}/products/storefront?focus=checkout",
                             f"{t}/products/storefront/components/checkout", f"{t}/audit",
                             f"{t}/config/storefront:checkout/dev"), strict=True))
    folder = ROOT / "build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for width in (1440, 1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
        page = context.new_page()
        try:
            sign_in(page, base, EMAIL)
            for locale, lang in (("en", "en"), ("zh_Hans", "zh")):
                _choose_language(page, base, locale)
                for name, path in paths.items():
                    page.goto(f"{base}{path}")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(folder / f"{name}-{width}-{lang}.png"), full_page=True)
                    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    wide = page.evaluate(_WIDER_THAN_WINDOW) if overflow > 0 else []
                    print(f"{name}-{width}-{lang}: page wider than the window by {overflow}px {wide}")
            _choose_language(page, base, "en")
        finally:
            context.close()
