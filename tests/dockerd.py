"""A real Docker engine for the tests, and the default job image in it.

CI (.ci/run) starts ``dockerd`` on a private socket and exports ``TAIJI_TEST_DOCKER_HOST``; the
tests then use that engine and the image it bootstrapped. Elsewhere, when Debian's ``docker.io``
is installed and we are root, the session starts its own ``dockerd`` on a private socket, data
root and address pool in a temporary folder (never the machine's /var/run/docker.sock), and
stops it at the end. Without either, the Docker tests are skipped.

The image comes from ``taiji images bootstrap``'s own code; its root file system is cached by
content key in ``TAIJI_TEST_IMAGE_CACHE`` (default ``~/.cache/taiji/test-images``), so a session
imports it (seconds) instead of running mmdebstrap again (a minute).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

IMAGE_CACHE = Path(os.environ.get("TAIJI_TEST_IMAGE_CACHE")
                   or Path.home() / ".cache" / "taiji" / "test-images")


@dataclass
class Dockerd:
    """A dockerd this session started: its folder, process and sockets."""

    root: Path
    proc: subprocess.Popen
    host: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # dockerd unmounts its layers on the way out; whatever it left must not fail the session.
        subprocess.run(["umount", "-R", "-l", str(self.root / "exec")], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def can_start_dockerd() -> str | None:
    """Why this machine cannot run a private dockerd, or None when it can."""
    if os.geteuid() != 0:
        return "starting dockerd needs root"
    for tool in ("dockerd", "containerd", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install docker.io)"
    return None


def start_dockerd(*, tls: dict | None = None, tcp_port: int | None = None) -> Dockerd:
    """A dockerd on a private socket, data root and address pool, in a fresh temporary folder.

    No default bridge (``docker0`` belongs to whoever else runs an engine here); jobs make their
    own networks, from a /16 picked at random so that two engines of this machine rarely meet.
    """
    root = Path(tempfile.mkdtemp(prefix="taiji-dockerd-", dir="/tmp"))
    sock = root / "docker.sock"
    pool = f"10.{random.randint(100, 250)}.0.0/16"
    # containerd accepts letters, digits and inner separators only: mkdtemp's name may end in "_".
    namespace = "taiji" + re.sub(r"[^A-Za-z0-9]", "", root.name.removeprefix("taiji-dockerd-"))
    command = [
        "dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "docker.pid"), "-H", f"unix://{sock}", "--bridge", "none",
        "--default-address-pool", f"base={pool},size=24", "--containerd-namespace", namespace,
        "--containerd-plugins-namespace", f"{namespace}p",
    ]
    if tls is not None and tcp_port is not None:
        command += ["-H", f"tcp://127.0.0.1:{tcp_port}", "--tlsverify", "--tlscacert", tls["ca"],
                    "--tlscert", tls["server_cert"], "--tlskey", tls["server_key"]]
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - the daemon writes it for its whole life
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    daemon = Dockerd(root=root, proc=proc, host=f"unix://{sock}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if sock.exists() and _answers(daemon.host):
            return daemon
        time.sleep(0.2)
    log_file = root / "dockerd.log"
    tail = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
    daemon.stop()
    raise RuntimeError(f"dockerd did not come up: {tail}")


def _answers(host: str) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=5, version="1.41")
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


_started: Dockerd | None = None
_images: dict[str, str] = {}


def engine_host() -> str:
    """The engine of this session: CI's (TAIJI_TEST_DOCKER_HOST), else a dockerd started here once
    and stopped when the session ends. Raises RuntimeError saying why there is none."""
    global _started
    given = os.environ.get("TAIJI_TEST_DOCKER_HOST", "").strip()
    if given:
        return given
    if _started is None:
        reason = can_start_dockerd()
        if reason:
            raise RuntimeError(f"no Docker engine: TAIJI_TEST_DOCKER_HOST is not set and {reason}")
        _started = start_dockerd()
        atexit.register(_started.stop)
    return _started.host


def engine_missing() -> str | None:
    """Why this session has no engine (for skips), or None."""
    if os.environ.get("TAIJI_TEST_DOCKER_HOST", "").strip():
        return None
    return can_start_dockerd()


def default_job_image(host: str) -> str:
    """The default job image (`taiji images bootstrap` with no options) in the engine at ``host``."""
    if host not in _images:
        import docker

        from taiji.modules.cicd.docker.images import bootstrap, recipe

        rec = recipe()
        IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            # Old tarballs of earlier recipes are a quarter GiB each.
            for stale in IMAGE_CACHE.glob(f"{rec.name}-*.tar"):
                if stale.name != f"{rec.name}-{rec.key}.tar":
                    stale.unlink()
        client = docker.DockerClient(base_url=host, timeout=300, version="1.41")
        try:
            bootstrap(client, rec, cache_dir=IMAGE_CACHE, progress=lambda line: None)
        finally:
            client.close()
        _images[host] = rec.reference
    return _images[host]


@pytest.fixture(scope="session")
def docker_host() -> str:
    """``unix://…`` of a running engine (CI's, or one started here); skips when there is none."""
    try:
        return engine_host()
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def docker_client(docker_host):
    import docker

    client = docker.DockerClient(base_url=docker_host, timeout=120, version="1.41")
    yield client
    client.close()


@pytest.fixture(scope="session")
def job_image(docker_host) -> str:
    """The default job image in the test engine."""
    return default_job_image(docker_host)


def make_tls_files(folder: Path) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's own PEM layout
    (ca.pem, cert.pem, key.pem for the client; server-*.pem for dockerd)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Taiji test engine CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def issue(name: str, usage, alt=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if alt is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return (cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))

    server_cert, server_key = issue("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    client_cert, client_key = issue("taiji-worker", ExtendedKeyUsageOID.CLIENT_AUTH)
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem",
             "server_cert": folder / "server-cert.pem", "server_key": folder / "server-key.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(client_cert)
    files["key"].write_bytes(client_key)
    files["server_cert"].write_bytes(server_cert)
    files["server_key"].write_bytes(server_key)
    for path in files.values():
        path.chmod(0o600)
    return {name: str(path) for name, path in files.items()}
