"""A tenant's directory URL goes through the platform's egress policy, its DNs and filters carry no
control characters, and whatever a server answers becomes a readable message (issue 12, finding 4)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from taiji.modules.iam import services as iam
from taiji.modules.iam.directory import connect, domains
from taiji.modules.iam.directory import services as directory
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import make_member

from .ldapserver import SERVICE_DN, SERVICE_PW, SUFFIX, Recorder, Slapd, needs_slapd

SETTINGS = {"bind_dn": SERVICE_DN, "bind_password": SERVICE_PW, "user_base": f"ou=people,{SUFFIX}"}


@pytest.fixture
def no_allow_list(app, monkeypatch):
    monkeypatch.setitem(app.config, "IAM_LDAP_ALLOWED_HOSTS", ())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "0x7f000001", "[::1]",
                                  "169.254.169.254"])
def test_test_connection_cannot_reach_loopback_unless_allowed(api_as, tenant, host, no_allow_list):
    owner = api_as(make_member(tenant, "owner"))
    with Recorder() as target:
        url = f"ldap://{host}:{target.port}/"
        saved = owner.put(f"/api/v1/tenants/{tenant.slug}/directory", json={**SETTINGS, "url": url})
        assert saved.status_code == 422 and saved.mimetype == "application/problem+json"
        assert "TAIJI_IAM_LDAP_ALLOWED_HOSTS" in saved.json["errors"]["json"]["url"][0]
        assert owner.get(f"/api/v1/tenants/{tenant.slug}/directory").json["configured"] is False
        assert target.connections == []


def test_the_policy_is_applied_again_before_every_connection(api_as, app, tenant, monkeypatch):
    """Saved while an operator allowed loopback; once the allow-list changes, nothing connects."""
    owner = api_as(make_member(tenant, "owner"))
    domains.approve(domains.add_domain(tenant, "corp.example").id, "root@example.com")
    with Recorder() as target:
        assert owner.put(f"/api/v1/tenants/{tenant.slug}/directory",
                         json={**SETTINGS, "url": target.url}).status_code == 200
        db.session.commit()
        monkeypatch.setitem(app.config, "IAM_LDAP_ALLOWED_HOSTS", ("10.0.0.0/8",))
        tested = owner.post(f"/api/v1/tenants/{tenant.slug}/directory/test")
        assert tested.status_code == 200 and tested.json["ok"] is False
        assert "TAIJI_IAM_LDAP_ALLOWED_HOSTS" in tested.json["message"]
        assert iam.authenticate("alice@corp.example", "alice-password-1") is None
        assert target.connections == []
    bind = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "iam.ldap.bind")).scalar_one()
    assert bind.details["outcome"] == "unavailable"
    assert "TAIJI_IAM_LDAP_ALLOWED_HOSTS" in bind.details["reason"]


def test_the_connection_goes_to_the_address_that_was_checked(app):
    pinned, target = connect.server("ldap://localhost:10389/")
    assert pinned.host in ("127.0.0.1", "::1") and pinned.port == 10389 and target.host == "localhost"


@pytest.mark.parametrize("field, value", [
    ("bind_dn", "cn=x\r\nSELECT 1\r\nSET taiji-signin-smuggled yes\r\n"),
    ("bind_password", "secret\r\nSET taiji-signin-smuggled yes\r\n"),
    ("user_base", "ou=people\n,dc=example"),
    ("user_filter", "(objectClass=*)\x00"),
    ("group_base", "ou=groups\r"),
    ("url", "ldap://127.0.0.1:6379/\r\nSET x y"),
])
def test_control_characters_are_refused_with_a_field_error(api_as, tenant, field, value):
    owner = api_as(make_member(tenant, "owner"))
    response = owner.put(f"/api/v1/tenants/{tenant.slug}/directory",
                         json={**SETTINGS, "url": "ldap://127.0.0.1:6379/", field: value})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert field in response.json["errors"]["json"]
    assert owner.get(f"/api/v1/tenants/{tenant.slug}/directory").json["configured"] is False


def test_a_crlf_bind_dn_does_not_reach_redis_on_loopback(api_as, tenant):
    """The attack: a bind DN with CR/LF, pointed at an unauthenticated Redis, smuggles commands."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    client.delete("taiji-signin-smuggled")
    owner = api_as(make_member(tenant, "owner"))
    smuggled = "cn=x\r\nSELECT 1\r\nSET taiji-signin-smuggled yes\r\nQUIT\r\n"
    owner.put(f"/api/v1/tenants/{tenant.slug}/directory",
              json={**SETTINGS, "url": "ldap://127.0.0.1:6379/", "bind_dn": smuggled})
    owner.post(f"/api/v1/tenants/{tenant.slug}/directory/test")
    assert client.get("taiji-signin-smuggled") is None


def test_the_console_shows_a_control_character_as_a_field_error(login, admin, tenant):
    client = login(admin)
    page = client.post(f"/t/{tenant.slug}/settings/directory",
                       data={"url": "ldap://127.0.0.1:6379/", "bind_dn": "cn=x\r\nSET a b",
                             "user_base": "dc=x", "default_role": "member"})
    assert page.status_code == 422
    assert 'id="dir-bind_dn"' in page.text and "is-invalid" in page.text and "control characters" in page.text


def _http_server():
    server = make_server("127.0.0.1", 0, lambda environ, start: Response("<h1>hello</h1>")(environ, start),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("kind", ["short-ber", "http-text", "http-server"])
def test_a_server_that_is_not_ldap_gets_a_readable_message(api_as, client, tenant, kind, monkeypatch):
    from taiji.modules.iam.directory import connect

    # An HTTP server never answers a bind: the test connection and the sign-in each wait out the
    # directory timeout, shortened here (the message is the same whatever its length).
    monkeypatch.setattr(connect, "TIMEOUT", 1)
    owner = api_as(make_member(tenant, "owner"))
    domains.approve(domains.add_domain(tenant, "corp.example").id, "root@example.com")
    replies = {"short-ber": b"\x30\x03\x02\x01\x01", "http-text": b"HTTP/1.1 400 Bad Request\r\n\r\n"}
    http = _http_server() if kind == "http-server" else None
    with Recorder(reply=replies.get(kind, b""), close_after=1) as fake:
        url = f"ldap://127.0.0.1:{http.server_port if http else fake.port}/"
        saved = owner.put(f"/api/v1/tenants/{tenant.slug}/directory", json={**SETTINGS, "url": url})
        assert saved.status_code == 200
        db.session.commit()
        tested = owner.post(f"/api/v1/tenants/{tenant.slug}/directory/test")
        assert tested.status_code == 200 and tested.json["ok"] is False
        assert "127.0.0.1" in tested.json["message"]
        assert "Traceback" not in tested.json["message"]
        signed_in = client.post("/login",
                                data={"email": "alice@corp.example", "password": "alice-password-1"})
        assert signed_in.status_code == 401
    if http:
        http.shutdown()


@needs_slapd
def test_ldaps_still_checks_the_certificate_against_the_host_name(api_as, tenant, tmp_path):
    """Pinned to 127.0.0.1, the TLS connection still verifies the certificate names the URL's host."""
    server = Slapd(tmp_path / "tls", tls_host="localhost").start()
    try:
        owner = api_as(make_member(tenant, "owner"))
        base = f"/api/v1/tenants/{tenant.slug}/directory"

        def tested(url, ca):
            assert owner.put(base, json={**SETTINGS, "url": url, "ca_certificate": ca}).status_code == 200
            return owner.post(f"{base}/test").json

        good = tested(f"ldaps://localhost:{server.port}/", server.ca_pem)
        assert good["ok"] is True, good
        wrong_name = tested(f"ldaps://127.0.0.1:{server.port}/", server.ca_pem)
        assert wrong_name["ok"] is False
        expected = f"The certificate of 127.0.0.1:{server.port} is not made out to 127.0.0.1"
        assert expected in wrong_name["message"]
        unknown_ca = tested(f"ldaps://localhost:{server.port}/", "")
        assert unknown_ca["ok"] is False and "not signed by a CA Taiji trusts" in unknown_ca["message"]
        bad = owner.put(base, json={**SETTINGS, "url": f"ldaps://localhost:{server.port}/",
                                    "ca_certificate": "not a certificate"})
        assert bad.status_code == 422 and "ca_certificate" in bad.json["errors"]["json"]
    finally:
        server.stop()


def test_directory_settings_unchanged_when_refused(api_as, tenant):
    owner = api_as(make_member(tenant, "owner"))
    base = f"/api/v1/tenants/{tenant.slug}/directory"
    assert owner.put(base, json={**SETTINGS, "url": "ldap://127.0.0.1:10389/"}).status_code == 200
    db.session.commit()
    assert owner.put(base, json={**SETTINGS, "url": "ldap://127.0.0.1:10389/",
                                 "bind_dn": "cn=evil\nx"}).status_code == 422
    assert directory.get_directory(tenant).bind_dn == SERVICE_DN


def test_a_nul_in_the_ca_certificate_is_a_field_error(api_as, tenant):
    owner = api_as(make_member(tenant, "owner"))
    response = owner.put(f"/api/v1/tenants/{tenant.slug}/directory",
                         json={**SETTINGS, "url": "ldaps://127.0.0.1:10636/",
                               "ca_certificate": "-----BEGIN\x00"})
    assert response.status_code == 422 and "ca_certificate" in response.json["errors"]["json"]
