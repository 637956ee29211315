"""Jenkins controllers and a repository's default runner over REST: CRUD, test connection, egress, jobs."""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.factories import make_member
from tests.fakes.jenkins import FakeJenkins

TOKEN = "api-token-1"


@pytest.fixture
def jenkins():
    with FakeJenkins(users={"taiji": TOKEN}) as server:
        yield server


def _base(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/cicd/jenkins/controllers"


def _create(api, tenant, url, **extra):
    body = {"name": "main", "url": url, "username": "taiji", "token": TOKEN, **extra}
    return api.post(_base(tenant), json=body)


def test_register_read_change_and_remove_a_controller_the_token_never_comes_back(
    api_as, tenant, admin, jenkins
):
    from taiji.modules.cicd.jenkins.models import JenkinsController
    from taiji.platform import audit
    from taiji.platform.db import db

    api = api_as(admin)
    created = _create(api, tenant, jenkins.url + "/", description="CI farm", is_default=True)
    assert created.status_code == 201, created.json
    assert created.json["url"] == jenkins.url and created.json["is_default"] is True
    assert "token" not in created.json and TOKEN not in created.get_data(as_text=True)
    row = db.session.query(JenkinsController).one()
    assert TOKEN not in row.sealed_token  # sealed at rest
    listed = api.get(_base(tenant))
    assert [c["name"] for c in listed.json] == ["main"] and TOKEN not in listed.get_data(as_text=True)
    item = api.get(_base(tenant) + "/main")
    changed = api.patch(
        _base(tenant) + "/main",
        json={"username": "other", "token": "new-token"},
        headers={"If-Match": item.headers["ETag"]},
    )
    assert changed.status_code == 200 and changed.json["username"] == "other"
    stale = api.patch(
        _base(tenant) + "/main", json={"description": "x"}, headers={"If-Match": item.headers["ETag"]}
    )
    assert stale.status_code == 412
    current = api.get(_base(tenant) + "/main").headers["ETag"]
    assert api.delete(_base(tenant) + "/main", headers={"If-Match": current}).status_code == 204
    assert api.get(_base(tenant) + "/main").status_code == 404
    actions = [e.action for e in audit.query(tenant=tenant).items]
    assert {"cicd.jenkins.create", "cicd.jenkins.update", "cicd.jenkins.delete"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://jenkins.example.com"}, "url"),
        ({"url": "http://user:pw@jenkins.example.com"}, "url"),
        ({"url": "http://jenkins.example.com/?x=1"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"name": "Bad Name"}, "name"),
        ({"username": "a\nb"}, "username"),
    ],
)
def test_bad_input_is_a_clear_422_and_changes_nothing(api_as, tenant, admin, body, field):
    from taiji.modules.cicd.jenkins.models import JenkinsController
    from taiji.platform.db import db

    data = {"name": "main", "url": "http://10.0.0.9:8080", "username": "taiji", "token": TOKEN, **body}
    response = api_as(admin).post(_base(tenant), json=data)
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]["json"]
    assert db.session.query(JenkinsController).count() == 0


def test_a_controller_on_loopback_is_refused_unless_the_operator_allows_it(
    app, api_as, tenant, admin, jenkins, monkeypatch
):
    api = api_as(admin)
    monkeypatch.setitem(app.config, "CICD_JENKINS_ALLOWED_HOSTS", ())
    for url in (
        jenkins.url,
        f"http://localhost:{jenkins.port}",
        "http://169.254.169.254/",
        "http://[::1]:8080",
    ):
        refused = _create(api, tenant, url)
        assert refused.status_code == 422, url
        assert "TAIJI_CICD_JENKINS_ALLOWED_HOSTS" in refused.json["errors"]["json"]["url"][0]
    assert not jenkins.requests
    monkeypatch.setitem(app.config, "CICD_JENKINS_ALLOWED_HOSTS", ("127.0.0.1",))
    assert _create(api, tenant, jenkins.url).status_code == 201


def test_a_call_checks_the_address_again_and_an_allow_list_narrowed_since_refuses_it(
    app, api_as, tenant, admin, jenkins, monkeypatch
):
    api = api_as(admin)
    assert _create(api, tenant, jenkins.url).status_code == 201
    monkeypatch.setitem(app.config, "CICD_JENKINS_ALLOWED_HOSTS", ())
    answer = api.post(_base(tenant) + "/main/test")
    assert answer.json["ok"] is False and answer.json["kind"] == "refused"
    assert "TAIJI_CICD_JENKINS_ALLOWED_HOSTS" in answer.json["message"]
    assert api.get(_base(tenant) + "/main/jobs").status_code == 502
    assert not jenkins.requests  # nothing reached the controller


def test_test_connection_says_connected_unreachable_bad_credentials_or_not_jenkins(
    api_as, tenant, admin, jenkins
):
    api = api_as(admin)
    _create(api, tenant, jenkins.url)
    ok = api.post(_base(tenant) + "/main/test").json
    assert ok["ok"] and ok["message"] == "Connected to Jenkins 2.440.3 as taiji."
    # A crumb and the session cookie it belongs to travel with every POST python-jenkins sends.
    etag = api.get(_base(tenant) + "/main").headers["ETag"]
    api.patch(_base(tenant) + "/main", json={"token": "wrong-token"}, headers={"If-Match": etag})
    bad = api.post(_base(tenant) + "/main/test").json
    assert (bad["ok"], bad["kind"]) == (False, "credentials")
    assert "refused the user 'taiji' and its API token (HTTP 401)" in bad["message"]

    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotJenkins)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    try:
        etag = api.get(_base(tenant) + "/main").headers["ETag"]
        api.patch(
            _base(tenant) + "/main",
            json={"url": f"http://127.0.0.1:{plain.server_port}", "token": TOKEN},
            headers={"If-Match": etag},
        )
        other = api.post(_base(tenant) + "/main/test").json
        assert (other["ok"], other["kind"]) == (False, "not_jenkins"), other
        assert "not a Jenkins" in other["message"] or "not as Jenkins does" in other["message"]
    finally:
        plain.shutdown()
        plain.server_close()
    port = plain.server_port
    etag = api.get(_base(tenant) + "/main").headers["ETag"]
    down = api.post(_base(tenant) + "/main/test").json
    assert (down["ok"], down["kind"]) == (False, "unreachable")
    assert f"127.0.0.1:{port} cannot be reached (the connection was refused)" in down["message"]


class _NotJenkins(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html>a web server, not Jenkins</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_redirect_to_another_host_is_not_followed(api_as, tenant, admin, jenkins):
    """A controller (or whatever answers at its address) cannot send Taiji's requests elsewhere."""
    hits = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=target.serve_forever, daemon=True).start()

    class Redirector(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{target.server_port}/api/json")
            self.send_header("X-Jenkins", "2.440.3")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        api = api_as(admin)
        _create(api, tenant, f"http://127.0.0.1:{redirector.server_port}")
        answer = api.post(_base(tenant) + "/main/test").json
        assert hits == []  # nothing reached the other service
        assert answer["ok"] is False and "another host" in answer["message"], answer
    finally:
        for server in (target, redirector):
            server.shutdown()
            server.server_close()


def test_the_controllers_jobs_with_last_builds_and_a_trigger(api_as, tenant, admin, jenkins):
    import time

    api = api_as(admin)
    _create(api, tenant, jenkins.url)
    jenkins.add_job("nightly", ['echo "nightly for $TARGET"'])
    jobs = api.get(_base(tenant) + "/main/jobs")
    assert jobs.status_code == 200
    assert jobs.json == [
        {"name": "nightly", "url": f"{jenkins.url}/job/nightly/", "color": "notbuilt", "last_build": None}
    ]
    queued = api.post(_base(tenant) + "/main/jobs/nightly/build", json={"parameters": {"TARGET": "eu"}})
    assert queued.status_code == 202, queued.json
    assert queued.json["queue_url"] == f"{jenkins.url}/queue/item/{queued.json['queue_id']}/"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        last = api.get(_base(tenant) + "/main/jobs").json[0]["last_build"]
        if last and not last["building"]:
            break
        time.sleep(0.1)
    assert last["number"] == 1 and last["result"] == "SUCCESS"
    assert b"nightly for eu" in jenkins.build_of("nightly").log
    missing = api.post(_base(tenant) + "/main/jobs/nowhere/build", json={})
    assert missing.status_code == 404 and "has no job 'nowhere'" in missing.json["detail"]
    bad = api.post(_base(tenant) + "/main/jobs/nightly/build", json={"parameters": {"bad name": "x"}})
    assert bad.status_code == 422


def test_members_read_controllers_but_only_owners_and_admins_manage_them(api_as, tenant, admin, jenkins):
    _create(api_as(admin), tenant, jenkins.url)
    member = api_as(make_member(tenant, "member"))
    assert member.get(_base(tenant)).status_code == 200
    assert member.post(_base(tenant) + "/main/test").status_code == 403
    assert member.post(_base(tenant) + "/main/jobs/x/build", json={}).status_code == 403
    assert _create(member, tenant, jenkins.url, name="second").status_code == 403
    assert api_as(make_member(tenant, "admin")).post(_base(tenant) + "/main/test").json["ok"] is True


def test_a_repository_default_runner_is_set_and_read_over_rest(api_as, tenant, admin, jenkins):
    from tests.modules.cicd.conftest import make_hosted

    make_hosted(tenant, "svc", {"README": "x"})
    api = api_as(admin)
    path = f"/api/v1/tenants/{tenant.slug}/repositories/svc/ci-settings"
    assert api.get(path).json == {
        "repository": "svc",
        "default_runner": "platform",
        "jenkins_controller": None,
        "updated_by": None,
    }
    refused = api.put(path, json={"default_runner": "jenkins", "jenkins_controller": "nope"})
    assert refused.status_code == 422 and "jenkins_controller" in refused.json["errors"]["json"]
    assert api.put(path, json={"default_runner": "kubernetes"}).status_code == 422
    _create(api, tenant, jenkins.url)
    saved = api.put(path, json={"default_runner": "jenkins", "jenkins_controller": "main"})
    assert saved.status_code == 200 and saved.json["default_runner"] == "jenkins"
    assert api.get(path).json["jenkins_controller"] == "main"
    assert api.put(path, json={"default_runner": None}).json["default_runner"] == "platform"
    assert api.get(f"/api/v1/tenants/{tenant.slug}/repositories/nowhere/ci-settings").status_code == 404


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/api/v1/tenants/{tenant}/cicd/jenkins/controllers/{controller}/test" in paths
    assert "/api/v1/tenants/{tenant}/repositories/{repository}/ci-settings" in paths
