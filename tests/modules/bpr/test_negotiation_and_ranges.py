"""Package repositories as real clients ask them (issue 12, finding 23): PEP 691 content
negotiation (the ``latest`` names, q-values, wildcards, nothing acceptable), and byte ranges as
download managers send them (several at once: the whole file; past the end: a 416 that says how
long the file is)."""

from __future__ import annotations

import pytest

from tests.factories import make_token
from tests.modules.bpr.conftest import put_package

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
PIP = f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01"  # what pip sends


@pytest.fixture
def index(client, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    put_package(tenant, repository, "demo_lib-1.0-py3-none-any.whl", b"one")
    token = make_token(admin)

    def get(path: str, accept: str | None):
        headers = {"Authorization": f"Bearer {token}"}
        if accept is not None:
            headers["Accept"] = accept
        return client.get(f"/pypi/{tenant.slug}/py/simple/{path}", headers=headers)

    return get


@pytest.mark.parametrize(("accept", "served"), [
    ("application/vnd.pypi.simple.latest+json", JSON_V1),
    ("application/vnd.pypi.simple.latest+html", HTML_V1),
    (PIP, JSON_V1),
    (JSON_V1, JSON_V1),
    (HTML_V1, HTML_V1),
    ("text/html", "text/html"),
    (None, "text/html"),
    ("*/*", "text/html"),
    ("text/html, application/vnd.pypi.simple.latest+json; q=0.5", "text/html"),
    ("text/html; q=0.2, application/vnd.pypi.simple.latest+json; q=0.9", JSON_V1),
    ("application/vnd.pypi.simple.latest+json; q=0, text/html; q=0.1", "text/html"),
    ("application/*", JSON_V1),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),  # a browser
])
@pytest.mark.parametrize("path", ["", "demo-lib/"])
def test_the_simple_api_answers_the_format_asked_for(index, accept, served, path):
    response = index(path, accept)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == served
    assert "Accept" in response.headers["Vary"]
    if served == JSON_V1:
        assert response.json["meta"]["api-version"].startswith("1.")
    else:
        assert response.get_data(as_text=True).startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.pypi.simple.v2+json",
                                    "text/html; q=0"])
def test_nothing_acceptable_is_406_naming_what_is(index, accept):
    response = index("", accept)
    assert response.status_code == 406 and response.mimetype == "application/problem+json"
    assert JSON_V1 in response.json["detail"] and "text/html" in response.json["detail"]


@pytest.fixture
def generic_file(client, tenant, admin, make_repo):
    make_repo("files")
    token = make_token(admin)
    url = f"/bpr/{tenant.slug}/files/data.bin"
    body = bytes(range(256)) * 4
    assert client.put(url, data=body, headers={"Authorization": f"Bearer {token}"}).status_code == 201
    return url, body, {"Authorization": f"Bearer {token}"}


def test_several_ranges_get_the_whole_file(client, generic_file):
    url, body, auth = generic_file
    response = client.get(url, headers={**auth, "Range": "bytes=0-9,20-29"})
    assert response.status_code == 200 and response.data == body
    assert response.headers["Content-Length"] == str(len(body))


def test_one_range_gets_that_range(client, generic_file):
    url, body, auth = generic_file
    response = client.get(url, headers={**auth, "Range": "bytes=10-19"})
    assert response.status_code == 206 and response.data == body[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(body)}"


def test_a_range_past_the_end_is_416_with_the_length(client, generic_file):
    url, body, auth = generic_file
    response = client.get(url, headers={**auth, "Range": f"bytes={len(body) + 10}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(body)}"
    assert response.mimetype == "application/problem+json"


def test_a_range_of_a_package_file_past_the_end_is_416_with_the_length(client, tenant, admin, make_repo):
    repository = make_repo("py", "pypi")
    row = put_package(tenant, repository, "demo_lib-1.0-py3-none-any.whl", b"0123456789")
    response = client.get(f"/pypi/{tenant.slug}/py/files/{row.path}",
                          headers={"Authorization": f"Bearer {make_token(admin)}", "Range": "bytes=50-60"})
    assert response.status_code == 416 and response.headers["Content-Range"] == "bytes */10"
    several = client.get(f"/pypi/{tenant.slug}/py/files/{row.path}",
                         headers={"Authorization": f"Bearer {make_token(admin)}", "Range": "bytes=0-1,4-5"})
    assert several.status_code == 200 and several.data == b"0123456789"


def test_a_ci_artifact_range_past_the_end_is_416_with_the_length(login, admin, tenant, tmp_path):
    from taiji.modules.cicd.services.artifacts import store_artifact
    from taiji.platform.db import db
    from tests.modules.cicd.test_console_jobs import one_job

    _pipeline, job = one_job(tenant)
    source = tmp_path / "out.txt"
    source.write_bytes(b"x" * 100)
    artifact = store_artifact(job, source, "out.txt", expire_in=3600)
    db.session.commit()
    response = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}/artifacts/{artifact.id}",
                                headers={"Range": "bytes=200-"})
    assert response.status_code == 416 and response.headers["Content-Range"] == "bytes */100"
