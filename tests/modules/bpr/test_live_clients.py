"""The real clients against a served Taiji: twine uploads, pip installs into a fresh virtualenv
(PEP 691 JSON, as pip asks for it), yanked files skipped, a 10 MB generic file through curl,
and a connection dropped mid-upload leaving nothing behind."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests import consumer_venv

pytestmark = pytest.mark.live

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def account(live):
    """A tenant ``acme`` with an owner's token and two repositories, committed."""
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    with live.app.app_context():
        user = iam.create_user("owner@bpr.example", "Owner", "a-long-password-1")
        tenant = tm.create_tenant("acme", "Acme", owner_id=user.id)
        _, token = iam.create_token(user, "bpr live")
        bpr.create_repository(tenant, {"name": "pypi-internal", "kind": "pypi"})
        bpr.create_repository(tenant, {"name": "builds", "kind": "generic", "immutable": True})
        db.session.commit()
        db.session.remove()
    return {"token": token, "tenant": "acme"}


def build_wheel(where: Path, name: str, version: str, requires_python: str = ">=3.8") -> Path:
    """A tiny real wheel, assembled as the wheel format describes it (METADATA, WHEEL, RECORD with
    hashes): the venv's setuptools cannot build wheels without the ``wheel`` package, and this
    needs neither a build backend nor the network."""
    module = name.replace("-", "_")
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{module}-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: {requires_python}\n"
            "Summary: A package made by the BPR tests\n"
        ).encode(),
        f"{module}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: taiji-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = f"{module}-{version}.dist-info/RECORD"
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{record},,")
    files[record] = ("\n".join(lines) + "\n").encode()
    where.mkdir(parents=True, exist_ok=True)
    wheel = where / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def twine(live, account, *files: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TWINE_USERNAME": "__token__",
        "TWINE_PASSWORD": account["token"],
        "TWINE_NON_INTERACTIVE": "1",
    }
    return subprocess.run(
        [
            str(BIN / "twine"),
            "upload",
            "--disable-progress-bar",
            "--repository-url",
            f"{live.url}/pypi/{account['tenant']}/pypi-internal/",
            *map(str, files),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    return consumer_venv.make(tmp_path_factory.mktemp("venv") / "env")


def pip_install(live, account, venv: Path, *requirements: str) -> subprocess.CompletedProcess:
    index = (
        f"{live.url.replace('://', '://__token__:' + account['token'] + '@')}/pypi/acme/pypi-internal/simple/"
    )
    return subprocess.run(
        [
            *consumer_venv.pip(venv),
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--index-url",
            index,
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_twine_uploads_then_refuses_the_duplicate_and_pip_installs(live, account, venv, tmp_path):
    wheel = build_wheel(tmp_path, "hello-taiji", "1.0.0")
    first = twine(live, account, wheel)
    assert first.returncode == 0, first.stdout + first.stderr
    again = twine(live, account, wheel)
    assert again.returncode != 0 and "409" in again.stdout + again.stderr
    installed = pip_install(live, account, venv, "Hello_Taiji")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import hello_taiji; print(hello_taiji.VERSION)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "1.0.0"


def test_pip_skips_a_yanked_release_unless_pinned(live, account, venv, tmp_path):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    for version in ("1.0.0", "2.0.0"):
        result = twine(live, account, build_wheel(tmp_path, "yank-demo", version))
        assert result.returncode == 0, result.stdout + result.stderr
    with live.app.app_context():
        tenant = tenant_by_slug("acme")
        repository = bpr.get_repository(tenant, "pypi-internal")
        row = bpr.list_files(repository, package="yank-demo", q="2.0.0").items[0]
        bpr.set_yanked(tenant, repository, row, True, "broken")
        db.session.commit()
        db.session.remove()
    unpinned = pip_install(live, account, venv, "yank-demo")
    assert unpinned.returncode == 0, unpinned.stdout + unpinned.stderr
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import yank_demo; print(yank_demo.VERSION)"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    assert version == "1.0.0"
    pinned = pip_install(live, account, venv, "yank-demo==2.0.0")
    assert pinned.returncode == 0 and "broken" in pinned.stdout + pinned.stderr  # pip warns with the reason


def test_curl_puts_and_gets_a_10_mb_file_with_its_sha256(live, account, tmp_path):
    body = os.urandom(10 * 1024 * 1024)
    source = tmp_path / "big.bin"
    source.write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    url = f"{live.url}/bpr/acme/builds/app/1.0.0/big.bin"
    auth = ["-H", f"Authorization: Bearer {account['token']}"]
    put = subprocess.run(
        ["curl", "-sS", "-f", *auth, "-T", str(source), url], capture_output=True, text=True, timeout=120
    )
    assert put.returncode == 0 and digest in put.stdout, put.stderr
    target = tmp_path / "back.bin"
    got = subprocess.run(
        ["curl", "-sS", "-f", *auth, "-D", "-", "-o", str(target), url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert got.returncode == 0 and f"x-checksum-sha256: {digest}" in got.stdout.lower()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    conflict = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *auth, "-T", str(source), url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert conflict.stdout == "409"


def test_a_dropped_connection_leaves_no_file_no_row_and_no_temp_file(live, account):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.tenancy import tenant_by_slug

    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            (
                f"PUT /bpr/acme/builds/dropped.bin HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {account['token']}\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n"
            ).encode()
        )
        conn.sendall(b"x" * (2 * 1024 * 1024))
    folder = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with live.app.app_context():
            tenant = tenant_by_slug("acme")
            repository = bpr.get_repository(tenant, "builds")
            row = bpr.find_file(repository, "dropped.bin")
            folder = Path(live.data_dir) / "bpr" / f"{tenant.id}/{repository.id}"
        leftovers = list(folder.glob(".upload-*")) if folder.exists() else []
        if not leftovers:
            break
        time.sleep(0.2)
    assert row is None and not leftovers
