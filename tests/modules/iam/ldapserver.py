"""Real directory servers for the sign-in tests: OpenLDAP's slapd on a free loopback port (plain or
ldaps with a certificate made here), and a listener that records who connects to it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=com"
ROOT_DN, ROOT_PW = f"cn=admin,{SUFFIX}", "root-secret"
SERVICE_DN, SERVICE_PW = f"cn=taiji,ou=services,{SUFFIX}", "service-secret"
VICTIM = "victim@corp.example"

needs_slapd = pytest.mark.skipif(
    not Path(SLAPD).exists() or shutil.which("ldapadd") is None,
    reason="OpenLDAP is not installed: apt-get install -y slapd ldap-utils (.ci/run does)",
)

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
{tls}
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_pw}
directory {dir}/data
access to attrs=userPassword by self read by anonymous auth by * none
access to * by dn.exact="{service_dn}" read by self read by * none
"""

TLS = """\
TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
"""

SEED = """\
dn: {suffix}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{suffix}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{suffix}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{suffix}
objectClass: organizationalUnit
ou: services

dn: {service_dn}
objectClass: person
cn: taiji
sn: service
userPassword: {service_pw}

dn: uid=alice,ou=people,{suffix}
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@corp.example
userPassword: alice-password-1

dn: uid=bob,ou=people,{suffix}
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@corp.example
userPassword: bob-password-1

dn: uid=mallory,ou=people,{suffix}
objectClass: inetOrgPerson
uid: mallory
cn: Mallory
sn: Mallory
mail: {victim}
userPassword: mallory-password-1

dn: uid=cfo,ou=people,{suffix}
objectClass: inetOrgPerson
uid: cfo
cn: Fake CFO
sn: CFO
mail: cfo@victim.example
userPassword: cfo-password-1

dn: cn=auditors,ou=groups,{suffix}
objectClass: groupOfNames
cn: auditors
member: uid=alice,ou=people,{suffix}

dn: cn=admins,ou=groups,{suffix}
objectClass: groupOfNames
cn: admins
member: uid=bob,ou=people,{suffix}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path, host: str) -> str:
    """A CA and a server certificate for ``host`` signed by it, as PEM files in ``folder``; returns
    the CA's PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Taiji test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    (folder / "ca.pem").write_text(ca_pem)
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_pem


class Slapd:
    """A throwaway slapd seeded with people and groups; ``tls_host`` makes it ldaps:// with a
    certificate for that name."""

    def __init__(self, work: Path, *, tls_host: str | None = None):
        self.work = work
        (work / "data").mkdir(parents=True)
        self.ca_pem = make_certificates(work, tls_host) if tls_host else ""
        values = {"dir": work, "suffix": SUFFIX, "root_dn": ROOT_DN, "root_pw": ROOT_PW,
                  "service_dn": SERVICE_DN, "service_pw": SERVICE_PW, "victim": VICTIM}
        values["tls"] = TLS.format(**values) if tls_host else ""
        (work / "slapd.conf").write_text(CONFIG.format(**values))
        (work / "seed.ldif").write_text(SEED.format(**values))
        self.port = free_port()
        scheme = "ldaps" if tls_host else "ldap"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None

    def start(self) -> Slapd:
        # -d 0 keeps slapd in the foreground, so the test owns the process and can stop it.
        self.process = subprocess.Popen(
            [SLAPD, "-h", self.url, "-f", str(self.work / "slapd.conf"), "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        env = {"LDAPTLS_CACERT": str(self.work / "ca.pem")} if self.ca_pem else {}
        deadline = time.monotonic() + 15
        while True:
            seeded = subprocess.run(
                ["ldapadd", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW,
                 "-f", str(self.work / "seed.ldif")],
                capture_output=True, text=True,
                env={"PATH": "/usr/bin:/bin", "LDAPTLS_REQCERT": "never", **env})
            if seeded.returncode == 0:
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"slapd did not start: {seeded.stderr}")
            time.sleep(0.2)

    def modify(self, ldif: str) -> None:
        subprocess.run(["ldapmodify", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW], input=ldif,
                       text=True, check=True, capture_output=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Recorder:
    """A TCP listener on loopback that records every connection and what it was sent.

    It stands for a hostile tenant's directory: a test that sees ``connections == []`` knows no
    password was sent there. ``reply`` is written back after the first bytes (nothing: the peer
    waits; bytes that are not LDAP: the peer must cope).
    """

    def __init__(self, reply: bytes | None = None, close_after: float = 0.2):
        self.reply = reply
        self.close_after = close_after
        self.connections: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"ldap://127.0.0.1:{self.port}/"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            self.connections.append(data)
            if self.reply is not None:
                try:
                    conn.sendall(self.reply)
                except OSError:
                    return
            time.sleep(self.close_after)
