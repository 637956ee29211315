"""Browser tests: Debian's Chromium, driven by Playwright, against a real server.

The server is the application served by werkzeug in a background thread, on a free port,
against its own database (migrated and committed to, never rolled back), so the tests are
marked ``live`` and the per-test rollback of ``tests/conftest.py`` leaves them alone.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
PASSWORD = "e2e-password-42"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.e2e)
        item.add_marker(pytest.mark.live)
        if not CHROMIUM.exists():
            item.add_marker(pytest.mark.skip(
                reason="browser tests need Debian's Chromium at /usr/bin/chromium "
                       "(apt-get install chromium)"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright's own browser download cannot run here; Debian's Chromium can.
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"],
    }


# What Chromium reported as blocked by a Content-Security-Policy, per test (checked after each).
CSP_VIOLATIONS: list[str] = []


def _watch_csp(context) -> None:
    def on_console(message):
        if "Content Security Policy" in message.text:
            CSP_VIOLATIONS.append(f"{message.type}: {message.text} ({message.location.get('url')})")

    def on_page(page):
        page.on("pageerror", lambda error: CSP_VIOLATIONS.append(f"pageerror: {error}")
                if "Content Security Policy" in str(error) else None)

    context.on("console", on_console)
    context.on("page", on_page)


@pytest.fixture(scope="session")
def browser(browser):
    """The session's Chromium; every context made from it reports CSP violations."""
    original = browser.new_context

    def new_context(*args, **kwargs):
        context = original(*args, **kwargs)
        _watch_csp(context)
        return context

    browser.new_context = new_context
    return browser


@pytest.fixture(scope="session", autouse=True)
def _navigation_survives_other_tests_networks():
    """A page load that Chromium aborts with ERR_NETWORK_CHANGED is made again (twice at most).

    Chromium aborts the loads in flight whenever an interface of the machine comes or goes; the
    Docker and sandbox tests beside these ones make and remove job networks all the time (seen
    once in CI: a goto of the Chinese-console check). Nothing of Taiji changes a network here."""
    from playwright.sync_api import Error, Page

    originals = {name: getattr(Page, name) for name in ("goto", "reload")}

    def retrying(original):
        def navigate(self, *args, **kwargs):
            for attempt in range(3):
                try:
                    return original(self, *args, **kwargs)
                except Error as exc:
                    if "ERR_NETWORK_CHANGED" not in str(exc) or attempt == 2:
                        raise
            return None  # not reached

        return navigate

    for name, original in originals.items():
        setattr(Page, name, retrying(original))
    yield
    for name, original in originals.items():
        setattr(Page, name, original)


@pytest.fixture(autouse=True)
def no_csp_violations():
    """The console works under its Content-Security-Policy: no page of a browser test had
    anything refused (an inline script or handler, an eval, a resource from elsewhere)."""
    CSP_VIOLATIONS.clear()
    yield
    assert CSP_VIOLATIONS == [], "\n".join(CSP_VIOLATIONS)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "locale": "en-US"}


@dataclass
class LiveServer:
    url: str
    app: object

    def account(self, email: str, name: str, *, admin: bool = False, email_verified: bool = True) -> str:
        """Create a user in the served database (as an administrator would: its email verified
        unless told otherwise); returns the email."""
        from taiji.modules.iam import services as iam
        from taiji.platform.db import db

        with self.app.app_context():
            iam.create_user(email, name, PASSWORD, admin=admin, email_verified=email_verified)
            db.session.commit()
            db.session.remove()
        return email


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = tmp_path_factory.mktemp("e2e")
    overrides = app_overrides(sibling_database("e2e", tmp, migrated=True), tmp / "data", TESTING=False,
                              WTF_CSRF_ENABLED=True, LOGIN_RATE_LIMIT="1000 per minute")
    app = create_app(overrides)
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url  # invitation links must point at this server
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def admin_email(live_server) -> str:
    return live_server.account("root@e2e.example", "Root Admin", admin=True)


@pytest.fixture
def shot():
    """``shot(page, name)`` saves a full-page screenshot for people to look at, when asked for
    with TAIJI_E2E_SHOTS=1 (nothing reads them otherwise, and some 70 full-page PNGs cost seconds
    of CPU on the critical path of CI)."""
    if not os.environ.get("TAIJI_E2E_SHOTS"):
        return lambda page, name: None
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


def sign_in(page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("[data-testid=login-submit]")


def sign_out(page) -> None:
    # The menu opens by the page's script: a click before it ran opens nothing (seen on a loaded
    # CI machine), so wait for it, and open the menu again if it still did not.
    page.wait_for_load_state("load")
    for _ in range(3):
        page.click("[data-testid=user-menu]")
        if page.locator("[data-testid=sign-out]").is_visible():
            break
        page.wait_for_timeout(500)
        if page.locator("[data-testid=sign-out]").is_visible():
            break
    with page.expect_navigation():
        page.click("[data-testid=sign-out]")
