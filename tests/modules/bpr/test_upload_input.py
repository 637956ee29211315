"""Hostile input through the real upload paths (issue 12, finding 16): a NUL in an uploaded file's
name (or in a form field, a repository name, a path) is a clear 4xx, never a 500 from a status line
that cannot carry it; a ``requires_python`` that is no version specifier is refused rather than
published to pip. Against a served Taiji: real twine, and the twine and curl wire formats."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest
import requests

from .test_live_clients import account, build_wheel, twine  # noqa: F401 - account is a fixture

pytestmark = pytest.mark.live


def _multipart(fields: dict[str, str], filename: bytes, body: bytes) -> tuple[bytes, str]:
    """twine's upload form, built byte by byte: a client library would refuse the NUL itself."""
    boundary = "taijiboundary"
    out = b""
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
        out += value.encode() + b"\r\n"
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="').encode()
    out += filename + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def _raw_post(live, path: str, token: str, body: bytes, content_type: str) -> tuple[str, bytes]:
    """POST over a socket; returns the status line as sent and the body (no client tidies them)."""
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
             f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
             "Connection: close\r\n\r\n").encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode("latin-1"), rest


def _files(live, package: str) -> list[str]:
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with live.app.app_context():
        repository = bpr.get_repository(tenant_by_slug("acme"), "pypi-internal")
        names = [row.filename for row in bpr.list_files(repository, package=package).items]
        db.session.remove()
    return names


@pytest.mark.parametrize(("filename", "field"), [
    (b"evil\x00-1.0-py3-none-any.whl", {}),
    (b"nul_demo-1.0-py3-none-any.whl", {"name": "nul\x00demo"}),
    (b"nul_demo-1.0-py3-none-any.whl", {"summary": "fine\x00not"}),
    (b"nul_demo-1.0-py3-none-any.whl", {"requires_python": ">=3.8\x00"}),
])
def test_a_nul_in_a_twine_upload_is_a_clear_422(live, account, filename, field):  # noqa: F811
    body = b"PK not really a wheel"
    fields = {":action": "file_upload", "protocol_version": "1", "name": "nul-demo", "version": "1.0",
              "filetype": "bdist_wheel", "pyversion": "py3",
              "sha256_digest": hashlib.sha256(body).hexdigest(), **field}
    form, content_type = _multipart(fields, filename, body)
    status, answer = _raw_post(live, f"/pypi/{account['tenant']}/pypi-internal/", account["token"], form,
                               content_type)
    assert status.startswith("HTTP/1.1 422 "), status
    assert "\x00" not in status and "NUL" in json.loads(answer)["detail"]
    assert _files(live, "nul-demo") == []


def test_a_nul_in_a_generic_path_or_repository_name_is_4xx(live, account):  # noqa: F811
    auth = {"Authorization": f"Bearer {account['token']}"}
    base = f"{live.url}/bpr/{account['tenant']}"
    put = requests.put(f"{base}/builds/a%00b.txt", data=b"x", headers=auth, timeout=30)
    assert put.status_code == 422 and put.headers["Content-Type"] == "application/problem+json"
    for method in ("GET", "DELETE"):
        answer = requests.request(method, f"{base}/builds/a%00b.txt", headers=auth, timeout=30)
        assert answer.status_code == 404
    assert requests.put(f"{base}/bui%00lds/a.txt", data=b"x", headers=auth, timeout=30).status_code == 404
    assert requests.get(f"{base}/bui%00lds/a.txt", headers=auth, timeout=30).status_code == 404


def test_a_requires_python_pip_could_not_read_is_refused(live, account, tmp_path):  # noqa: F811
    """twine 6 checks the wheel's metadata itself; older twine, curl -F and other publishers do
    not: the index refuses what it would otherwise publish to pip as data-requires-python."""
    wheel = build_wheel(tmp_path, "bad-requires", "1.0.0")
    body = wheel.read_bytes()
    fields = {":action": "file_upload", "protocol_version": "1", "name": "bad-requires", "version": "1.0.0",
              "filetype": "bdist_wheel", "pyversion": "py3",
              "sha256_digest": hashlib.sha256(body).hexdigest(), "requires_python": '>=3.8" onmouseover="x'}
    refused = requests.post(f"{live.url}/pypi/acme/pypi-internal/", data=fields, timeout=30,
                            files={"content": (wheel.name, body)},
                            headers={"Authorization": f"Bearer {account['token']}"})
    assert refused.status_code == 422, refused.text
    assert "is not a version specifier" in refused.json()["detail"] and "requires_python" in refused.reason
    assert _files(live, "bad-requires") == []
    # The same file with a real specifier, through real twine, is published with it.
    good = build_wheel(tmp_path / "good", "bad-requires", "1.0.0", requires_python=">=3.8, <4")
    published = twine(live, account, good)
    assert published.returncode == 0, published.stdout + published.stderr
    simple = requests.get(f"{live.url}/pypi/acme/pypi-internal/simple/bad-requires/", timeout=30,
                          headers={"Authorization": f"Bearer {account['token']}",
                                   "Accept": "application/vnd.pypi.simple.v1+json"})
    assert [f["requires-python"] for f in simple.json()["files"]] == [">=3.8, <4"]


def test_a_pipeline_cannot_publish_a_wheel_with_a_broken_requires_python(live, account, tmp_path):  # noqa: F811
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db
    from taiji.platform.errors import Invalid
    from taiji.platform.tenancy import tenant_by_slug

    wheel = build_wheel(tmp_path, "ci-made", "1.0.0", requires_python=">=3.8; rm -rf /")
    with live.app.app_context():
        with pytest.raises(Invalid, match="requires_python"):
            bpr.publish_artifact(tenant_by_slug("acme"), "pypi-internal", wheel)
        db.session.rollback()
        db.session.remove()
    assert _files(live, "ci-made") == []
