"""Request bodies are bounded per kind of route (issue 12, finding 15): a JSON, YAML or form body
over ``TAIJI_MAX_BODY_BYTES`` is refused with 413 before it is read, while uploads and git pushes
stream past it (bounded by storage quotas). Against a real server over a socket, so that
"before it is read" is what is checked: the client announces 128 MB and never sends them."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database

pytestmark = pytest.mark.live

ANNOUNCED = 128 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = tmp_path_factory.mktemp("limits")
    app = create_app(app_overrides(sibling_database("limits", tmp, migrated=True), tmp / "data"))
    assert app.config["MAX_CONTENT_LENGTH"] == 2 * 1024 * 1024  # the default of the setting
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        user = iam.create_user("owner@limits.example", "Owner", "a-long-password-1", admin=True)
        tenant = tm.create_tenant("big", "Big", owner_id=user.id)
        bpr.create_repository(tenant, {"name": "files", "kind": "generic"})
        _, token = iam.create_token(user, "limits")
        db.session.commit()
        db.session.remove()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"port": httpd.server_port, "token": token, "app": app}
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _answer(conn: socket.socket, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Status, headers and body of the one response on ``conn``."""
    conn.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _announce(server, method: str, path: str, content_type: str, sent: bytes, **extra) -> tuple:
    """Send headers announcing 128 MB, then only ``sent``; the answer must come anyway."""
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as conn:
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {ANNOUNCED}\r\n")
        head += "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        started = time.monotonic()
        conn.sendall(head.encode() + b"\r\n" + sent)
        answer = _answer(conn)
        return (*answer, time.monotonic() - started)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/api/v1/tenants", "application/json"),
    ("/api/v1/tenants/big/catalog/import", "application/yaml"),
    ("/login", "application/x-www-form-urlencoded"),
])
def test_a_128_mb_body_is_refused_before_it_is_read(server, path, content_type):
    status, headers, body, elapsed = _announce(
        server, "POST", path, content_type, b'{"slug": "' + b"x" * 1000,
        Authorization=f"Bearer {server['token']}")
    assert status == 413 and elapsed < 5
    if path.startswith("/api/"):
        assert headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["status"] == 413 and str(ANNOUNCED) in problem["detail"]


def test_a_chunked_body_is_cut_at_the_limit(server):
    """No Content-Length to check first: reading stops at the limit with the same 413."""
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=10) as conn:
        conn.sendall(b"POST /api/v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nAuthorization: Bearer " + server["token"].encode()
                     + b"\r\n\r\n")
        piece = b'["' + b"x" * (64 * 1024 - 2)
        stop = threading.Event()

        def feed():
            # Far more than the limit, in pieces, until the server has answered and stops reading.
            try:
                for _ in range(64 * 4):
                    if stop.is_set():
                        return
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        status, headers, _body = _answer(conn, timeout=20)
        stop.set()
    assert status == 413 and headers["content-type"] == "application/problem+json"


def test_uploads_stream_past_the_limit(server):
    """A generic file of 3 MB (over the 2 MB default) is stored: uploads are bounded by quotas."""
    import requests

    body = b"u" * (3 * 1024 * 1024)
    put = requests.put(f"http://127.0.0.1:{server['port']}/bpr/big/files/three-mb.bin", data=body, timeout=60,
                       headers={"Authorization": f"Bearer {server['token']}"})
    assert put.status_code == 201, put.text
    assert put.json()["size"] == len(body)


def test_a_package_upload_over_the_storage_quota_stops_before_it_is_read(server):
    """twine's form is parsed (its file spooled) before the file can be weighed: the quota's room
    bounds the body already, so 128 MB announced to a tenant with 1 MB left are not read."""
    from taiji.modules.bpr import services as bpr
    from taiji.platform import quotas
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with server["app"].app_context():
        tenant = tenant_by_slug("big")
        bpr.create_repository(tenant, {"name": "wheels", "kind": "pypi"})
        quotas.set_limit(tenant, bpr.STORAGE_METER, bpr.storage_used(tenant) + 1024 * 1024)
        db.session.commit()
        db.session.remove()
    try:
        status, headers, _body, elapsed = _announce(
            server, "POST", "/pypi/big/wheels/", "multipart/form-data; boundary=xyz", b"--xyz\r\n",
            Authorization=f"Bearer {server['token']}")
    finally:
        with server["app"].app_context():
            quotas.set_limit(tenant_by_slug("big"), bpr.STORAGE_METER, None)
            db.session.commit()
            db.session.remove()
    assert status == 413 and elapsed < 5
    assert headers["content-type"] == "application/problem+json"


def test_a_setting_sets_the_limit(monkeypatch, tmp_path):
    from taiji.platform import config

    monkeypatch.setenv("TAIJI_MAX_BODY_BYTES", "65536")
    assert config.load({"DATA_DIR": str(tmp_path), "SECRET_KEY": "x"})["MAX_CONTENT_LENGTH"] == 65536
    monkeypatch.setenv("TAIJI_MAX_BODY_BYTES", "lots")
    with pytest.raises(config.ConfigError, match="TAIJI_MAX_BODY_BYTES"):
        config.load({"DATA_DIR": str(tmp_path), "SECRET_KEY": "x"})
