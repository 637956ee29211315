"""The wire protocols through the test client: generic PUT/GET/HEAD/DELETE, the simple index in
HTML and JSON, twine's multipart upload, and what a failed upload leaves behind (nothing)."""

from __future__ import annotations

import base64
import hashlib
import io

from taiji.platform.db import db
from tests.factories import database_state, make_tenant, make_token, make_user
from tests.modules.bpr.conftest import put_package

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def basic(token: str, user: str = "__token__") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def blobs(app, repository) -> list:
    from pathlib import Path

    folder = Path(app.config["DATA_DIR"]) / "bpr" / f"{repository.tenant_id}/{repository.id}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


class Breaking(io.BytesIO):
    """A request body that fails after some bytes, as a client that drops the connection."""

    def __init__(self, good: int):
        super().__init__(b"z" * good)
        self.good = good

    def read(self, size=-1):
        if self.tell() >= self.good:
            raise ConnectionResetError("client went away")
        return super().read(size)


def test_put_then_get_and_head_with_sha256(client, tenant, admin, make_repo):
    make_repo("files")
    token = make_token(admin)
    body = b"release notes\n" * 100
    url = f"/bpr/{tenant.slug}/files/app/1.0/notes.txt"
    put = client.put(url, data=body, headers={**basic(token), "Content-Type": "text/plain"})
    assert put.status_code == 201, put.get_data(as_text=True)
    digest = hashlib.sha256(body).hexdigest()
    assert put.json["sha256"] == digest and put.headers["X-Checksum-Sha256"] == digest
    got = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert got.status_code == 200 and got.data == body
    assert got.headers["X-Checksum-Sha256"] == digest and got.headers["ETag"] == f'"{digest}"'
    head = client.head(url, headers=basic(token))
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(body)
    ranged = client.get(url, headers={**basic(token), "Range": "bytes=0-6"})
    assert ranged.status_code == 206 and ranged.data == b"release"
    again = client.get(url, headers={**basic(token), "If-None-Match": f'"{digest}"'})
    assert again.status_code == 304


def test_immutable_paths_are_never_overwritten_and_mutable_ones_are(client, tenant, admin, make_repo, app):
    fixed = make_repo("fixed", immutable=True)
    make_repo("loose")
    token = make_token(admin)
    assert client.put(f"/bpr/{tenant.slug}/fixed/a.bin", data=b"one", headers=basic(token)).status_code == 201
    before, kept = database_state(), blobs(app, fixed)
    conflict = client.put(f"/bpr/{tenant.slug}/fixed/a.bin", data=b"two", headers=basic(token))
    assert conflict.status_code == 409 and "immutable" in conflict.json["detail"]
    assert database_state() == before and blobs(app, fixed) == kept
    assert client.get(f"/bpr/{tenant.slug}/fixed/a.bin", headers=basic(token)).data == b"one"
    assert client.put(f"/bpr/{tenant.slug}/loose/a.bin", data=b"one", headers=basic(token)).status_code == 201
    assert (
        client.put(f"/bpr/{tenant.slug}/loose/a.bin", data=b"two!", headers=basic(token)).status_code == 201
    )
    assert client.get(f"/bpr/{tenant.slug}/loose/a.bin", headers=basic(token)).data == b"two!"


def test_odd_paths_are_refused_and_touch_no_disk(client, tenant, admin, make_repo, app):
    repository = make_repo("files")
    token = make_token(admin)
    kept = blobs(app, repository)
    for path in ("a/../../etc/passwd", "a//b", "./x", "a/%2e%2e/b", "sp ace", "semi;colon"):
        response = client.put(f"/bpr/{tenant.slug}/files/{path}", data=b"x", headers=basic(token))
        assert 400 <= response.status_code < 500, path
    assert blobs(app, repository) == kept


def test_an_interrupted_upload_leaves_no_file_and_no_row(client, tenant, admin, make_repo, app):
    repository = make_repo("files")
    token = make_token(admin)
    before, kept = database_state(), blobs(app, repository)
    response = client.put(
        f"/bpr/{tenant.slug}/files/big.bin",
        input_stream=Breaking(3 * 1024 * 1024),
        headers=basic(token),
        environ_overrides={"CONTENT_LENGTH": str(10 * 1024 * 1024)},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "nothing was stored" in response.json["detail"]
    assert database_state() == before and blobs(app, repository) == kept


def test_fewer_bytes_than_announced_is_refused(client, tenant, admin, make_repo, app):
    repository = make_repo("files")
    token = make_token(admin)
    kept = blobs(app, repository)
    response = client.put(
        f"/bpr/{tenant.slug}/files/short.bin",
        input_stream=io.BytesIO(b"abc"),
        headers=basic(token),
        environ_overrides={"CONTENT_LENGTH": "10"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert blobs(app, repository) == kept


def test_over_the_storage_quota_nothing_is_stored(client, tenant, admin, make_repo, app):
    from taiji.platform import quotas

    repository = make_repo("files")
    quotas.set_limit(tenant, "bpr.storage_bytes", 1000)
    db.session.commit()
    token = make_token(admin)
    assert (
        client.put(f"/bpr/{tenant.slug}/files/small", data=b"s" * 600, headers=basic(token)).status_code
        == 201
    )
    before, kept = database_state(), blobs(app, repository)
    refused = client.put(f"/bpr/{tenant.slug}/files/big", data=b"b" * 600, headers=basic(token))
    assert refused.status_code == 413 and "bpr.storage_bytes" in refused.json["detail"]
    # Without a Content-Length the limit is found while streaming.
    chunked = client.put(
        f"/bpr/{tenant.slug}/files/big",
        input_stream=io.BytesIO(b"b" * 600),
        headers={**basic(token), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert chunked.status_code == 413
    assert database_state() == before and blobs(app, repository) == kept


def test_who_may_read_what(client, tenant, admin, make_repo):
    make_repo("private")
    make_repo("open", visibility="public")
    token = make_token(admin)
    for name in ("private", "open"):
        client.put(f"/bpr/{tenant.slug}/{name}/f.txt", data=b"hi", headers=basic(token))
    anonymous = client.get(f"/bpr/{tenant.slug}/private/f.txt")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/bpr/no-such-tenant/private/f.txt").status_code == 401  # says nothing either way
    assert client.get(f"/bpr/{tenant.slug}/open/f.txt").data == b"hi"
    assert client.put(f"/bpr/{tenant.slug}/open/g.txt", data=b"no").status_code == 401
    outsider = make_user()
    make_tenant(owner=outsider)
    other = make_token(outsider)
    assert client.get(f"/bpr/{tenant.slug}/private/f.txt", headers=basic(other)).status_code == 404
    assert client.put(f"/bpr/{tenant.slug}/private/x", data=b"x", headers=basic(other)).status_code == 404
    assert client.get(f"/bpr/{tenant.slug}/open/f.txt", headers=basic(other)).status_code == 200
    assert client.get(f"/bpr/{tenant.slug}/private/f.txt", headers=basic("tj_pat_wrong")).status_code == 401


def test_credentials_that_are_sent_and_refused_are_401_even_on_a_public_repository(client, tenant, admin,
                                                                                     make_repo):
    """The protocols share the kernel's gate (platform/protocol_auth.py): a wrong, expired or malformed
    token is refused with a challenge instead of being read as no token at all, as git does."""
    make_repo("open", visibility="public")
    client.put(f"/bpr/{tenant.slug}/open/f.txt", data=b"hi", headers=basic(make_token(admin)))
    url = f"/bpr/{tenant.slug}/open/f.txt"
    assert client.get(url).data == b"hi"
    empty_password = "Basic " + base64.b64encode(b"__token__:").decode()
    for header in ("Bearer tj_pat_wrong", "Bearer ", "Basic !!not-base64!!", empty_password,
                   basic("tj_pat_wrong")["Authorization"]):
        refused = client.get(url, headers={"Authorization": header})
        assert refused.status_code == 401, header
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="taiji"'
        assert refused.mimetype == "application/problem+json" and b"hi" not in refused.data


def test_a_session_cookie_reads_but_never_writes(login, tenant, admin, make_repo):
    make_repo("files")
    console = login(admin)
    assert console.put(f"/bpr/{tenant.slug}/files/f.txt", data=b"csrf").status_code == 401


def test_delete_a_generic_file(client, tenant, admin, make_repo):
    make_repo("files")
    token = make_token(admin)
    client.put(f"/bpr/{tenant.slug}/files/f.txt", data=b"hi", headers=basic(token))
    assert client.delete(f"/bpr/{tenant.slug}/files/f.txt", headers=basic(token)).status_code == 204
    assert client.get(f"/bpr/{tenant.slug}/files/f.txt", headers=basic(token)).status_code == 404


def test_simple_index_in_html_and_json(client, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    put_package(
        tenant, repository, "Demo_Lib-1.0-py3-none-any.whl", b"one", meta={"requires_python": ">=3.9"}
    )
    row = put_package(tenant, repository, "demo_lib-1.1.tar.gz", b"two")
    row.yanked, row.yank_reason = True, "bad build"
    db.session.commit()
    token = make_token(admin)
    root = f"/pypi/{tenant.slug}/py/simple/"
    html = client.get(root, headers=basic(token))
    assert html.status_code == 200 and html.mimetype == "text/html" and 'href="demo-lib/"' in html.text
    assert "Accept" in html.headers["Vary"]
    assert client.get(root, headers={**basic(token), "Accept": JSON_V1}).json["projects"] == [
        {"name": "demo-lib"}
    ]
    page = client.get(root + "demo-lib/", headers=basic(token)).text
    assert f"#sha256={hashlib.sha256(b'one').hexdigest()}" in page
    assert 'data-requires-python="&gt;=3.9"' in page and 'data-yanked="bad build"' in page
    data = client.get(root + "demo-lib/", headers={**basic(token), "Accept": f"{JSON_V1}, text/html;q=0.1"})
    assert data.mimetype == JSON_V1 and "Accept" in data.headers["Vary"]
    files = {f["filename"]: f for f in data.json["files"]}
    assert files["Demo_Lib-1.0-py3-none-any.whl"]["requires-python"] == ">=3.9"
    assert files["demo_lib-1.1.tar.gz"]["yanked"] == "bad build"
    assert files["Demo_Lib-1.0-py3-none-any.whl"]["yanked"] is False
    moved = client.get(root + "Demo.Lib/", headers=basic(token))
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/simple/demo-lib/")
    assert client.get(root + "nothing-here/", headers=basic(token)).status_code == 404
    download = client.get(files["Demo_Lib-1.0-py3-none-any.whl"]["url"], headers=basic(token))
    assert download.data == b"one"


def _twine_form(filename: str, body: bytes, **fields) -> dict:
    form = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "demo-lib",
        "version": "1.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": hashlib.sha256(body).hexdigest(),
        "content": (io.BytesIO(body), filename),
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def test_twine_style_upload_then_duplicate_is_409(client, tenant, admin, make_repo):
    make_repo("py", "pypi")
    token = make_token(admin)
    url = f"/pypi/{tenant.slug}/py/"
    first = client.post(
        url, data=_twine_form("demo_lib-1.0-py3-none-any.whl", b"wheel"), headers=basic(token)
    )
    assert first.status_code == 200, first.get_data(as_text=True)
    again = client.post(
        url, data=_twine_form("demo_lib-1.0-py3-none-any.whl", b"wheel"), headers=basic(token)
    )
    assert again.status_code == 409 and "already exists" in again.json["detail"]


def test_uploads_that_do_not_add_up_are_refused_and_leave_nothing(client, tenant, admin, make_repo, app):
    repository = make_repo("py", "pypi")
    token = make_token(admin)
    url = f"/pypi/{tenant.slug}/py/"
    before, kept = database_state(), blobs(app, repository)
    cases = [
        _twine_form("demo_lib-1.0-py3-none-any.whl", b"wheel", sha256_digest="0" * 64),
        _twine_form("other-1.0-py3-none-any.whl", b"wheel"),
        _twine_form("demo_lib-2.0-py3-none-any.whl", b"wheel"),
        _twine_form("setup.py", b"print()"),
        _twine_form("demo_lib-1.0-py3-none-any.whl", b"wheel", content=None),
    ]
    for form in cases:
        response = client.post(url, data=form, headers=basic(token))
        assert 400 <= response.status_code < 500, form
    assert client.post(url, data=_twine_form("demo_lib-1.0-py3-none-any.whl", b"w")).status_code == 401
    assert database_state() == before and blobs(app, repository) == kept


def test_a_generic_repository_has_no_index_and_an_index_takes_no_put(client, tenant, admin, make_repo):
    make_repo("files")
    make_repo("py", "pypi")
    token = make_token(admin)
    assert client.get(f"/pypi/{tenant.slug}/files/simple/", headers=basic(token)).status_code == 404
    assert client.put(f"/bpr/{tenant.slug}/py/x.whl", data=b"x", headers=basic(token)).status_code == 422
