"""A tenant's notification, check-back and participant URLs are judged again right before every
call, and the call connects to exactly the addresses judged.

Two attacks, on real HTTP servers on loopback:

- the allow-list is narrowed after the URL was accepted: the call is not made, and the
  notification's attempt / the message's check-back says why (the transactions' case is in
  test_api.py);
- DNS rebinding: the name resolves to an allowed address when judged and to a forbidden one when
  the HTTP client connects. The test stands in for the attacker's DNS by patching the kernel's own
  resolver (``taiji.platform.egress.resolve``): ``localhost`` is judged as 127.0.0.2 (allowed),
  while the system's resolver — which an unpinned client would ask — says 127.0.0.1, where an
  "internal" server listens on the same port. The internal server must hear nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taiji.platform import egress as kernel_egress
from taiji.platform.db import db
from taiji.platform.tx import messages, notify
from tests.platform.tx.conftest import FAST, drive

SECRET = "rebinding-secret-0123456789"


class Listener:
    """A tiny HTTP server on ``host``: records (path, Host header) and answers what each path asks."""

    def __init__(self, host: str, port: int = 0):
        self.heard: list[tuple[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.heard.append((self.path, self.headers.get("Host", "")))
                if self.path.startswith("/check"):
                    body = json.dumps({"result": "committed"}).encode()
                elif self.path.startswith("/hook"):
                    body = b"SUCCESS"
                else:
                    body = json.dumps({"result": "SUCCESS"}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers():
    """``allowed`` on 127.0.0.2 and ``internal`` on 127.0.0.1, on the same port."""
    allowed = Listener("127.0.0.2")
    internal = Listener("127.0.0.1", allowed.port)
    yield allowed, internal
    allowed.stop()
    internal.stop()


@pytest.fixture
def rebinding(app, monkeypatch, servers):
    """``localhost`` judged as 127.0.0.2 (the only allowed address); the system says 127.0.0.1."""
    real = kernel_egress.resolve
    monkeypatch.setattr(kernel_egress, "resolve", lambda host: (
        [kernel_egress.literal("127.0.0.2")] if host == "localhost" else real(host)))
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("127.0.0.2",))
    return servers


def _base(tenant):
    return f"/api/v1/tenants/{tenant.slug}/tx"


def _notify(api, tenant, url):
    response = api.post(f"{_base(tenant)}/notifications", json={
        "url": url, "body": {"order": 7}, "secret": SECRET, "schedule": [0.0, 3600.0],
        "nid": f"n-{uuid.uuid4().hex[:10]}"})
    assert response.status_code == 201, response.json
    db.session.commit()
    return response.json["nid"]


def _prepare(api, tenant, check_url):
    response = api.post(f"{_base(tenant)}/messages", json={
        "topic": "order.paid", "payload": {"order": 7}, "check_url": check_url,
        "mid": f"m-{uuid.uuid4().hex[:10]}"})
    assert response.status_code == 201, response.json
    db.session.commit()
    return response.json["mid"]


def test_a_notification_whose_address_was_disallowed_since_is_not_sent(api_as, admin, tenant, app,
                                                                       monkeypatch, servers):
    _allowed, internal = servers
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("127.0.0.1",))
    api = api_as(admin)
    nid = _notify(api, tenant, f"http://127.0.0.1:{internal.port}/hook")
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ())
    assert notify.attempt(nid) == notify.PENDING
    assert internal.heard == []
    detail = api.get(f"{_base(tenant)}/notifications/{nid}").json
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] is None and not attempt["acknowledged"]
    assert "resolves to 127.0.0.1" in attempt["error"] and "TAIJI_TX_ALLOWED_HOSTS" in attempt["error"]
    assert detail["last_error"] == attempt["error"]


def test_a_check_back_whose_address_was_disallowed_since_is_not_made(api_as, admin, tenant, app,
                                                                     monkeypatch, servers):
    _allowed, internal = servers
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ("127.0.0.1",))
    api = api_as(admin)
    mid = _prepare(api, tenant, f"http://127.0.0.1:{internal.port}/check")
    monkeypatch.setitem(app.config, "TX_ALLOWED_HOSTS", ())
    assert messages.check(mid) == messages.PREPARED  # not "committed": nobody was asked
    assert internal.heard == []
    detail = api.get(f"{_base(tenant)}/messages/{mid}").json
    [check] = detail["check_log"]
    assert check["status_code"] is None and check["answer"] is None
    assert "resolves to 127.0.0.1" in check["error"] and "TAIJI_TX_ALLOWED_HOSTS" in check["error"]


def test_a_rebound_notification_reaches_only_the_address_judged(api_as, admin, tenant, rebinding):
    allowed, internal = rebinding
    nid = _notify(api_as(admin), tenant, f"http://localhost:{allowed.port}/hook")
    assert notify.attempt(nid) == notify.DELIVERED
    assert internal.heard == []
    assert allowed.heard == [("/hook", f"localhost:{allowed.port}")]  # the Host header is the URL's


def test_a_rebound_check_back_reaches_only_the_address_judged(api_as, admin, tenant, rebinding):
    allowed, internal = rebinding
    mid = _prepare(api_as(admin), tenant, f"http://localhost:{allowed.port}/check")
    assert messages.check(mid) == messages.SUBMITTED
    assert internal.heard == []
    assert allowed.heard == [(f"/check?mid={mid}&op=check", f"localhost:{allowed.port}")]


def test_a_rebound_participant_reaches_only_the_address_judged(api_as, admin, tenant, rebinding):
    allowed, internal = rebinding
    gid = f"rebind-{uuid.uuid4().hex[:8]}"
    response = api_as(admin).post(f"{_base(tenant)}/sagas", json={"gid": gid, "options": FAST, "steps": [
        {"name": "reserve", "action": f"http://localhost:{allowed.port}/action"}]})
    assert response.status_code == 201, response.json
    db.session.commit()
    assert drive(gid).state == "succeeded"
    assert internal.heard == []
    assert [(path.split("?")[0], host) for path, host in allowed.heard] == [
        ("/action", f"localhost:{allowed.port}")]
