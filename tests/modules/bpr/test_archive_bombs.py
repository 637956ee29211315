"""Decompression bombs published to a package index: a 261 KB wheel whose METADATA inflates to
256 MiB, a wheel whose headers understate what follows, sdists of zeros (tar.gz and zip). Each is
refused with a clear 422 through the real upload route (and from a pipeline's publish step, and
by the real twine against a served Taiji), nothing is stored, and the memory the refusal costs is
measured (tracemalloc's peak over the whole request) to stay small."""

from __future__ import annotations

import os
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from taiji.modules.bpr import services as bpr
from taiji.platform.errors import Invalid
from tests.factories import database_state, make_token
from tests.modules.bpr import bombs
from tests.modules.bpr.test_protocols import _twine_form, basic, blobs

# Generous for the request's own bookkeeping; the bombs inflate to 256 and 512 MiB.
PEAK_LIMIT = 16 * bombs.MIB


@pytest.fixture(scope="module")
def bomb_files(tmp_path_factory) -> dict[str, Path]:
    made = {}
    for name, build in [("wheel", bombs.metadata_bomb_wheel), ("lying", bombs.lying_header_wheel),
                        ("sdist", bombs.zeros_bomb_sdist), ("zip", bombs.metadata_bomb_zip_sdist)]:
        made[name] = build(tmp_path_factory.mktemp(name))
    return made


def _peak_of(call):
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("bomb", "filetype", "fragment"), [
    ("wheel", "bdist_wheel", "is 268435525 bytes unpacked, more than the 8388608 bytes accepted"),
    ("lying", "bdist_wheel", "cannot be read: Bad CRC-32"),
    ("sdist", "sdist", "inflates to more than"),
    ("zip", "sdist", "is 268435525 bytes unpacked"),
])
def test_an_upload_that_inflates_beyond_bounds_is_a_clear_422_in_bounded_memory(
        client, tenant, admin, make_repo, app, bomb_files, bomb, filetype, fragment):
    repository = make_repo("py", "pypi")
    token = make_token(admin)
    before, kept = database_state(), blobs(app, repository)
    path = bomb_files[bomb]
    form = _twine_form(path.name, path.read_bytes(), filetype=filetype)
    url = f"/pypi/{tenant.slug}/py/"
    response, peak = _peak_of(lambda: client.post(url, data=form, headers=basic(token)))
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    detail = response.json["detail"]
    assert detail.startswith(f"'{path.name}' was refused and nothing was stored: ") and fragment in detail
    assert peak < PEAK_LIMIT, f"the refusal held {peak // bombs.MIB} MiB at its peak"
    assert database_state() == before and blobs(app, repository) == kept


def test_a_pipeline_publishing_a_bomb_wheel_is_refused_in_bounded_memory(tenant, make_repo, bomb_files):
    make_repo("pypi-internal", "pypi")

    def publish():
        with pytest.raises(Invalid, match="was refused and nothing was stored") as refused:
            bpr.publish_artifact(tenant, "pypi-internal", bomb_files["wheel"], source={"pipeline": 1})
        return refused.value

    refused, peak = _peak_of(publish)
    assert "more than the 8388608 bytes accepted" in str(refused)
    assert peak < PEAK_LIMIT, f"publishing held {peak // bombs.MIB} MiB at its peak"
    assert bpr.list_packages(bpr.get_repository(tenant, "pypi-internal")).total == 0


def test_archives_that_are_ordinary_still_give_their_metadata(client, tenant, admin, make_repo, tmp_path):
    # A modest METADATA with a long description passes; so does a file that is no archive at all,
    # which the index keeps as before (without metadata).
    make_repo("py", "pypi")
    token = make_token(admin)
    wheel = tmp_path / "demo_lib-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        headers = bombs.HEADERS.replace(b"\n\n", b"\nRequires-Python: >=3.9\n\n")
        archive.writestr("demo_lib-1.0.dist-info/METADATA", headers + b"A long README.\n" * 20000)
    form = _twine_form(wheel.name, wheel.read_bytes())
    assert client.post(f"/pypi/{tenant.slug}/py/", data=form, headers=basic(token)).status_code == 200
    files = client.get(f"/pypi/{tenant.slug}/py/simple/demo-lib/", headers={
        **basic(token), "Accept": "application/vnd.pypi.simple.v1+json"}).json["files"]
    assert files[0]["requires-python"] == ">=3.9"
    plain = _twine_form("demo_lib-2.0-py3-none-any.whl", b"not a zip", version="2.0")
    assert client.post(f"/pypi/{tenant.slug}/py/", data=plain, headers=basic(token)).status_code == 200


@pytest.mark.live
def test_twine_uploading_a_zeros_sdist_gets_the_refusal(live, tmp_path, bomb_files):
    from tests.modules.bpr.test_live_clients import BIN

    with live.app.app_context():
        from taiji.modules.iam import services as iam
        from taiji.modules.tm import services as tm
        from taiji.platform.db import db

        user = iam.create_user("bombs@bpr.example", "Owner", "a-long-password-1")
        tenant = tm.create_tenant("bombs", "Bombs", owner_id=user.id)
        _, token = iam.create_token(user, "bombs")
        bpr.create_repository(tenant, {"name": "pypi-internal", "kind": "pypi"})
        db.session.commit()
        db.session.remove()
    env = {**os.environ, "TWINE_USERNAME": "__token__", "TWINE_PASSWORD": token, "TWINE_NON_INTERACTIVE": "1"}
    done = subprocess.run(
        [str(BIN / "twine"), "upload", "--disable-progress-bar", "--verbose", "--repository-url",
         f"{live.url}/pypi/bombs/pypi-internal/", str(bomb_files["sdist"])],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    output = " ".join((done.stdout + done.stderr).split())  # twine wraps its lines
    assert done.returncode != 0 and "422" in output, output[-3000:]
    assert "this looks like a decompression bomb" in output, output[-3000:]
    with live.app.app_context():
        assert bpr.list_packages(bpr.get_repository(tenant_of("bombs"), "pypi-internal")).total == 0


def tenant_of(slug: str):
    from taiji.platform.tenancy import tenant_by_slug

    return tenant_by_slug(slug)


def test_nothing_else_in_taiji_opens_archives_behind_the_kernel_reader():
    # The kernel's reader is the one door: a new zipfile/tarfile/gzip reading elsewhere must go
    # through it. Writing an archive (a checkout packed for a container) is no such risk.
    root = Path(__file__).resolve().parents[3] / "taiji"
    reading = ("extractfile", "ZipFile(", "gzip.", 'mode="r', "mode='r", "tarfile.open(fileobj=stream")
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if any(w in p.read_text() for w in reading))
    assert users == ["platform/safearchive.py"]
    writers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                     if "import tarfile" in p.read_text() or "import zipfile" in p.read_text())
    assert set(writers) <= {"platform/safearchive.py", "modules/cicd/docker/containers.py"}, writers
