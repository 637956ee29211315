"""Stored XSS through uploaded files, tried in Chromium (issue 12, finding 2): a tenant member
uploads HTML and SVG pages whose script would act as the signed-in administrator; the
administrator follows links to them. No script of the attacker runs on the console's origin.
And the API reference (Redoc) still renders under the console's Content-Security-Policy."""

from __future__ import annotations

import http.server
import threading

import requests
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.conftest import CSP_VIOLATIONS, sign_in

MARK = "localStorage.setItem('pwned', location.href)"
# Inline script and a script of the console's own origin (which script-src 'self' alone would allow).
HTML = (f"<!doctype html><title>evil</title><h1>evil</h1><script>{MARK}</script>"
        '<script src="/bpr/xss/drop/evil.js"></script>').encode()
SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="{MARK}">'
       f"<script>{MARK}</script></svg>").encode()


def _attacker_with_a_repository(live_server, admin_email) -> str:
    """A tenant ``xss`` the administrator owns, a generic repository, and a member's token."""
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db
    from tests.factories import system_principal

    email = live_server.account("mallory@e2e.example", "Mallory")
    with live_server.app.app_context():
        tenant = tm.create_tenant("xss", "XSS", owner_id=iam.get_user_by_email(admin_email).id)
        tm.add_member(tenant, email, "member", actor=system_principal())
        bpr.create_repository(tenant, {"name": "drop", "kind": "generic"})
        _, token = iam.create_token(iam.get_user_by_email(email), "upload")
        db.session.commit()
        db.session.remove()
    return token


def test_following_links_to_uploaded_pages_runs_none_of_their_script(page, live_server, admin_email):
    base = live_server.url
    token = _attacker_with_a_repository(live_server, admin_email)
    uploads = {"evil.html": (HTML, "text/html"), "evil.svg": (SVG, "image/svg+xml"),
               "evil.js": (MARK.encode(), "application/javascript"),
               "lie.png": (HTML, "image/png"), "notes.txt": (HTML, "text/plain")}
    for name, (body, claimed) in uploads.items():
        put = requests.put(f"{base}/bpr/xss/drop/{name}", data=body, timeout=30,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": claimed})
        assert put.status_code == 201, put.text

    sign_in(page, base, admin_email)
    downloads = []
    page.on("download", lambda download: downloads.append(download.suggested_filename))
    for name in ("evil.html", "evil.svg"):
        page.goto(f"{base}/t/xss/packages/drop")
        try:
            page.goto(f"{base}/bpr/xss/drop/{name}")  # what following the link does
        except PlaywrightError as exc:
            assert "Download is starting" in str(exc)
        page.goto(f"{base}/t/xss/packages/drop")
        assert page.evaluate("localStorage.getItem('pwned')") is None, f"{name} ran its script"
    # Downloads, not pages: the browser saved them and stayed on the console.
    assert sorted(downloads) == ["evil.html", "evil.svg"]
    # Shown inline, as what the short list allows: a (broken) picture and plain text.
    page.goto(f"{base}/bpr/xss/drop/lie.png")
    expect(page.locator("img")).to_have_count(1)
    page.goto(f"{base}/bpr/xss/drop/notes.txt")
    expect(page.locator("body")).to_contain_text("<script>")

    page.goto(f"{base}/t/xss/packages/drop")
    assert page.evaluate("localStorage.getItem('pwned')") is None
    # Whatever Chromium refused inside the sandboxed files is the policy at work, not a console bug.
    CSP_VIOLATIONS[:] = [v for v in CSP_VIOLATIONS if "/bpr/xss/drop/" not in v]


def test_the_api_reference_renders_under_its_policy(page, live_server):
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_role("heading", name="Taiji", exact=False).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Binary repositories").first).to_be_attached()
    # Redoc always tries its makers' logo from their CDN (and hides it when it fails): the policy
    # keeps the page from calling out, as an offline install could not reach it anyway.
    CSP_VIOLATIONS[:] = [v for v in CSP_VIOLATIONS if "cdn.redoc.ly/redoc/logo-mini.svg" not in v]


def _serve_once(html: str):
    """Another origin on this host (another port: same site, so the session cookie goes along)."""
    body = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_another_site_cannot_frame_the_token_page(page, live_server, admin_email):
    """Clickjacking: a page of another origin frames the signed-in token page under a decoy."""
    base = live_server.url
    sign_in(page, base, admin_email)
    page.goto(f"{base}/profile/tokens")
    expect(page.get_by_test_id("token-form")).to_be_visible()  # what the attacker wants to frame
    decoy = _serve_once(f'<button>Win a prize</button><iframe src="{base}/profile/tokens"></iframe>')
    try:
        # Read the frame once Chromium has refused it (not after a fixed pause).
        with page.expect_console_message(lambda message: "frame-ancestors" in message.text, timeout=15_000):
            page.goto(f"http://127.0.0.1:{decoy.server_port}/")
        framed = page.frames[1]
        assert framed.query_selector("[data-testid=token-form]") is None
    finally:
        decoy.shutdown()
    # Chromium reports the refusal as a CSP message: that is the protection, not a console bug.
    CSP_VIOLATIONS[:] = [v for v in CSP_VIOLATIONS if "frame-ancestors" not in v]
