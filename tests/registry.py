"""A real image registry on loopback: Debian's ``docker-registry`` with htpasswd authentication,
started by the test on a free port (Docker treats 127.0.0.0/8 registries as plain-HTTP ones)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dockerd import free_port


@dataclass
class Registry:
    address: str  # 127.0.0.1:port
    user: str
    password: str

    @property
    def auth(self) -> dict:
        return {"username": self.user, "password": self.password, "serveraddress": self.address}


def tiny_rootfs() -> bytes:
    """A root file system of a few MiB: the host's dash and sleep with their C library, enough for a
    job (a shell, `sleep` for the container to idle in) and quick to push."""
    files = ["/bin/sh", "/bin/dash", "/bin/sleep", "/bin/cat"]
    libraries = set()
    for binary in files:
        out = subprocess.run(["ldd", os.path.realpath(binary)], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            path = line.split("=>")[-1].split("(")[0].strip()
            if path.startswith("/"):
                libraries.add(path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("tmp", "etc", "bin", "lib", "lib64", "lib/x86_64-linux-gnu"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        for path in [*files, *sorted(libraries)]:
            real = os.path.realpath(path)
            info = tar.gettarinfo(real, arcname=path.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(real, "rb") as fh:
                tar.addfile(info, fh)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def registry():
    for tool in ("docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: docker-registry, apache2-utils)")
    root = Path(tempfile.mkdtemp(prefix="taiji-registry-"))
    user, password = "ci-puller", "registry-pass-" + os.urandom(6).hex()
    htpasswd = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True,
                              check=True)
    (root / "htpasswd").write_text(htpasswd.stdout)
    port = free_port()
    (root / "config.yml").write_text(f"""
version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {root / 'data'}}}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd: {{realm: taiji-test, path: {root / 'htpasswd'}}}
""")
    with (root / "registry.log").open("wb") as log:
        proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((root / "registry.log").read_text()[-2000:]) from None
                time.sleep(0.1)
        yield Registry(address=f"127.0.0.1:{port}", user=user, password=password)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def push_tiny_image(client, registry: Registry, name: str) -> str:
    """Make a tiny image, push it as ``registry/name``, remove the local copy; returns the reference."""
    reference = f"{registry.address}/{name}"
    repository, _, tag = reference.rpartition(":")
    client.api.import_image_from_data(tiny_rootfs(), repository=repository, tag=tag)
    for event in client.api.push(repository, tag=tag, auth_config=registry.auth, stream=True, decode=True):
        if "error" in event:
            raise RuntimeError(event["error"])
    client.images.remove(reference, force=True)
    return reference
