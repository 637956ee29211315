"""Email domains of a tenant's directory: proven with a real DNS TXT record (Debian's dnsmasq on
loopback) or approved by a platform administrator; one domain, one tenant (issue 12, finding 1)."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import dns.nameserver
import dns.resolver
import pytest
import sqlalchemy as sa

from taiji.modules.iam.directory import domains
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import make_member, make_tenant

DNSMASQ = "/usr/sbin/dnsmasq"
needs_dnsmasq = pytest.mark.skipif(
    not Path(DNSMASQ).exists(),
    reason="dnsmasq is not installed: apt-get install -y dnsmasq-base (.ci/run does)")


def _free_port() -> int:
    """A loopback port free for UDP and TCP (dnsmasq takes both), below the kernel's range of
    ephemeral ports, which the other tests' servers and every outgoing connection draw from."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        port = random.randrange(10000, max(low, 10001))
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise AssertionError("no free loopback port for dnsmasq")


class DnsServer:
    """dnsmasq on a free loopback port, answering for ``.example`` from the TXT records given.
    ``on_port`` is told the port each time it changes (another process may take a port between its
    check and dnsmasq's start: then dnsmasq starts again on another)."""

    def __init__(self, log: Path, on_port):
        self.log = log
        self.on_port = on_port
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._new_port()

    def _new_port(self) -> None:
        self.port = _free_port()
        self.on_port(self.port)

    def serve(self, records: dict[str, str]) -> None:
        for _ in range(3):
            if self._serve(records):
                return
            if "Address already in use" not in self.log.read_text(errors="replace"):
                break
            self._new_port()
        pytest.fail(f"dnsmasq did not answer: {self.log.read_text(errors='replace')[-2000:]}")

    def _serve(self, records: dict[str, str]) -> bool:
        self.stop()
        self.log.write_bytes(b"")
        args = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}", "--pid-file=",
                "--user=root", "--log-facility=-", "--local=/example/"]
        args += [f"--txt-record={name},{value}" for name, value in records.items()]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", self.port)]
        resolver.lifetime = 0.5
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                resolver.resolve("ready.example", "TXT")
            except dns.resolver.NXDOMAIN:
                return True  # it answers
            except dns.exception.DNSException:
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def dns_server(app, monkeypatch, tmp_path):
    def point_at(port: int) -> None:
        monkeypatch.setitem(app.config, "DNS_NAMESERVERS", (f"127.0.0.1:{port}",))

    server = DnsServer(tmp_path / "dnsmasq.log", point_at)
    try:
        yield server
    finally:
        server.stop()


@needs_dnsmasq
def test_an_owner_proves_a_domain_with_a_dns_txt_record(api_as, tenant, dns_server):
    owner = api_as(make_member(tenant, "owner"))
    base = f"/api/v1/tenants/{tenant.slug}/directory/domains"
    added = owner.post(base, json={"domain": "Victim.Example."})
    assert added.status_code == 201, added.json
    claim = added.json
    assert claim["domain"] == "victim.example" and claim["status"] == "pending"
    assert claim["record_name"] == "_taiji-verification.victim.example"
    assert claim["record_value"].startswith("taiji-verification=")

    dns_server.serve({})
    checked = owner.post(f"{base}/victim.example/verify").json
    assert checked["status"] == "pending" and "does not exist" in checked["last_error"]

    dns_server.serve({claim["record_name"]: "taiji-verification=someone-elses-token"})
    checked = owner.post(f"{base}/victim.example/verify").json
    assert checked["status"] == "pending" and "none is" in checked["last_error"]

    dns_server.serve({claim["record_name"]: claim["record_value"]})
    checked = owner.post(f"{base}/victim.example/verify").json
    assert checked["status"] == "verified" and checked["method"] == "dns" and checked["last_error"] is None
    assert domains.owner_tenant_id("victim.example") == tenant.id
    actions = [a for (a,) in db.session.execute(
        sa.select(AuditEntry.action)
        .where(AuditEntry.tenant_id == tenant.id, AuditEntry.target == "victim.example"))]
    assert {"iam.domain.added", "iam.domain.verification_failed", "iam.domain.verified"} <= set(actions)

    # One domain, one tenant: another tenant's claim, even with its own record published, stays pending.
    other = make_tenant(slug="second-claimant")
    other_owner = api_as(make_member(other, "owner"))
    second = other_owner.post(f"/api/v1/tenants/{other.slug}/directory/domains",
                              json={"domain": "victim.example"})
    assert second.status_code == 201
    dns_server.serve({claim["record_name"]: second.json["record_value"]})
    refused = other_owner.post(f"/api/v1/tenants/{other.slug}/directory/domains/victim.example/verify")
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "another tenant" in refused.json["detail"]
    assert domains.owner_tenant_id("victim.example") == tenant.id


def test_a_platform_administrator_approves_a_claim(api_as, admin, tenant):
    owner = api_as(make_member(tenant, "owner"))
    claim = owner.post(f"/api/v1/tenants/{tenant.slug}/directory/domains",
                       json={"domain": "intranet.example"}).json
    admin_api = api_as(admin)
    pending = admin_api.get("/api/v1/directory-domains?status=pending").json
    assert [(c["domain"], c["tenant"]) for c in pending] == [("intranet.example", tenant.slug)]
    # Neither the tenant's owner nor its administrator approves their own claim.
    assert owner.post(f"/api/v1/directory-domains/{claim['id']}/approve").status_code == 403
    tenant_admin = api_as(make_member(tenant, "admin"))
    assert tenant_admin.post(f"/api/v1/directory-domains/{claim['id']}/approve").status_code == 403
    assert tenant_admin.post(f"/api/v1/tenants/{tenant.slug}/directory/domains",
                             json={"domain": "other.example"}).status_code == 403
    approved = admin_api.post(f"/api/v1/directory-domains/{claim['id']}/approve")
    assert approved.status_code == 200
    assert approved.json["status"] == "verified" and approved.json["method"] == "admin"
    assert approved.json["verified_by"] == admin.email
    assert db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "iam.domain.approved")).first()
    assert admin_api.delete(f"/api/v1/directory-domains/{claim['id']}").status_code == 204
    assert domains.owner_tenant_id("intranet.example") is None


@pytest.mark.parametrize("bad", ["not a domain", "exa\r\nmple.com", "com", "-bad-.example",
                                 "a" * 300 + ".com", "ex\x00ample.com", ""])
def test_bad_domains_are_refused_with_a_field_error(api_as, tenant, bad):
    owner = api_as(make_member(tenant, "owner"))
    response = owner.post(f"/api/v1/tenants/{tenant.slug}/directory/domains", json={"domain": bad})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert "domain" in str(response.json["errors"])
    assert domains.list_domains(tenant) == []


def test_domains_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/api/v1/tenants/{tenant}/directory/domains/{domain}/verify" in paths
    assert "/api/v1/directory-domains/{domain_id}/approve" in paths


@needs_dnsmasq
def test_domains_in_the_console_in_both_languages(login, client, admin, tenant, dns_server):
    owner = make_member(tenant, "owner")
    login(owner)
    page = f"/t/{tenant.slug}/settings/directory/domains"
    assert 'data-testid="directory-domains-link"' in client.get(f"/t/{tenant.slug}/settings/directory").text
    bad = client.post(page, data={"domain": "nope"})
    assert bad.status_code == 422 and 'data-testid="domain-error"' in bad.text
    assert client.post(page, data={"domain": "console.example"}).status_code == 302
    shown = client.get(page).text
    row = domains.get_domain(tenant, "console.example")
    assert domains.record_value(row) in shown and "_taiji-verification.console.example" in shown
    dns_server.serve({domains.record_name(row): domains.record_value(row)})
    verified = client.post(f"{page}/console.example/verify", follow_redirects=True).text
    assert 'data-testid="domain-verified"' in verified
    client.post("/locale", data={"locale": "zh_Hans"})
    assert "邮箱域名" in client.get(page).text
    client.post("/logout")

    claim = domains.add_domain(make_tenant(slug="pending-co"), "wants.example")
    db.session.commit()
    login(admin)
    listing = client.get("/admin/domains?status=pending").text
    assert "wants.example" in listing and 'data-testid="claim-approve"' in listing
    assert client.post(f"/admin/domains/{claim.id}/approve").status_code == 302
    assert domains.owner_tenant_id("wants.example") is not None

