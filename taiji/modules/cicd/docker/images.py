"""Job images built from Debian packages: `taiji images bootstrap`.

Docker Hub may be out of reach (and an install should not depend on it): ``mmdebstrap`` builds a
Debian root file system from the Debian mirrors, ``docker import`` makes it an image. Each image
carries a content key (suite, packages, recipe) as a label, so building the same image again is a
no-op unless asked, and a tarball cache (tests, CI) skips mmdebstrap altogether.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from .engine import EngineError

KEY_LABEL = "org.taiji.image.key"
PACKAGES_LABEL = "org.taiji.image.packages"
SUITE = "bookworm"
# Bump when the recipe below changes what an image contains: the key then changes too.
RECIPE = 2
BASE_PACKAGES = ("ca-certificates", "git")
# pytest too: the usual first job of a Python project then needs no package index.
FLAVOURS = {"python": ("python3", "python3-venv", "python3-pip", "python3-pytest")}
JOB_UID = 1000
VENV = "/opt/venv"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Documentation, manual pages and translations are a third of a minimal system and no job reads them.
EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
            "/usr/share/lintian/*")


class BootstrapError(Exception):
    """mmdebstrap or the import failed; the message carries the tool's last words."""


@dataclass(frozen=True)
class Recipe:
    name: str
    packages: tuple[str, ...]
    suite: str = SUITE
    mirror: str = ""

    @property
    def key(self) -> str:
        body = json.dumps([RECIPE, self.suite, self.mirror, self.packages], separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def repository(self) -> str:
        return f"taiji/{self.name}"

    @property
    def tag(self) -> str:
        return self.suite

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def has_python(self) -> bool:
        return "python3-venv" in self.packages


def recipe(name: str = "python", include: tuple[str, ...] | list[str] = (), *, suite: str = SUITE,
           mirror: str = "") -> Recipe:
    """The image called ``taiji/<name>:<suite>``: Debian's base, the flavour's packages, ``include``."""
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name[0] in "-_.":
        raise ValueError(f"{name!r} is not an image name (letters, digits, '-', '_', '.')")
    for package in include:
        if not package or not all(c.isalnum() or c in "+-.:" for c in package):
            raise ValueError(f"{package!r} is not a Debian package name")
    packages = tuple(sorted({*BASE_PACKAGES, *FLAVOURS.get(name, ()), *include}))
    return Recipe(name=name.lower(), packages=packages, suite=suite, mirror=mirror)


def find(client: docker.DockerClient, rec: Recipe):
    """The engine's image built from this recipe, or None."""
    images = client.images.list(filters={"label": f"{KEY_LABEL}={rec.key}"})
    return images[0] if images else None


def _hooks(rec: Recipe) -> list[str]:
    # A job runs as uid 1000; give it a name and a home so that tools asking "who am I" get answers.
    uid = JOB_UID
    hooks = [
        f"echo 'taiji:x:{uid}:{uid}:Taiji job:/home/taiji:/bin/sh' >> \"$1/etc/passwd\"",
        f"echo 'taiji:x:{uid}:' >> \"$1/etc/group\"",
        "echo 'taiji:*:19000:0:99999:7:::' >> \"$1/etc/shadow\"",
        f"mkdir -p \"$1/home/taiji\" \"$1/workspace\" && "
        f"chown {uid}:{uid} \"$1/home/taiji\" \"$1/workspace\"",
    ]
    if rec.has_python:
        # Every container starts from the image, so this environment is fresh for every job:
        # `python`/`pip` on PATH, installs land here, Debian's own Python stays untouched.
        hooks.append(
            f"chroot \"$1\" python3 -m venv --system-site-packages --without-pip {VENV} && "
            f"printf '#!/bin/sh\\nexec {VENV}/bin/python -m pip \"$@\"\\n' > \"$1{VENV}/bin/pip\" && "
            f"chmod 755 \"$1{VENV}/bin/pip\" && chown -R {uid}:{uid} \"$1{VENV}\""
        )
    return hooks


def _mmdebstrap(rec: Recipe, target: Path, progress: Callable[[str], None]) -> None:
    tool = shutil.which("mmdebstrap")
    if tool is None:
        raise BootstrapError("mmdebstrap is not installed (Debian: apt-get install mmdebstrap)")
    command = [tool, "--variant=apt", f"--include={','.join(rec.packages)}"]
    command += [f"--dpkgopt=path-exclude={pattern}" for pattern in EXCLUDES]
    command += [f"--customize-hook={hook}" for hook in _hooks(rec)]
    command += [rec.suite, str(target)]
    if rec.mirror:
        command.append(rec.mirror)
    started = time.monotonic()
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8",
           "TMPDIR": str(target.parent)}
    proc = subprocess.Popen(  # noqa: S603 - a fixed tool with arguments built above
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        env=env,
    )
    tail: list[str] = []
    last = ""
    for line in proc.stdout:
        line = line.rstrip()
        tail = [*tail[-30:], line]
        if line.startswith(("I: ", "E: ", "W: ")):
            text = line[3:]
            if text.startswith("running --customize-hook"):
                text = "customizing: user taiji (uid 1000), /workspace"
                text += ", a Python venv" if rec.has_python else ""
                if text == last:
                    continue
            last = text
            progress(f"[{time.monotonic() - started:5.1f}s] {text[:160]}")
    if proc.wait() != 0:
        raise BootstrapError("mmdebstrap failed:\n" + "\n".join(tail))


def _import(client: docker.DockerClient, rec: Recipe, tarball: Path) -> str:
    changes = [
        f"ENV PATH={VENV}/bin:{PATH}" if rec.has_python else f"ENV PATH={PATH}",
        "ENV LANG=C.UTF-8",
        f"LABEL {KEY_LABEL}={rec.key}",
        f"LABEL {PACKAGES_LABEL}={','.join(rec.packages)}",
        'CMD ["/bin/sh"]',
    ]
    if rec.has_python:
        changes.insert(1, f"ENV VIRTUAL_ENV={VENV}")
    try:
        answer = client.api.import_image_from_file(str(tarball), repository=rec.repository, tag=rec.tag,
                                                   changes=changes)
    except docker.errors.DockerException as exc:
        raise BootstrapError(f"the engine refused the image: {exc}") from exc
    # The answer is a JSON document (or a stream of them) ending with {"status": "sha256:…"}.
    for line in str(answer).splitlines()[::-1]:
        try:
            status = json.loads(line).get("status", "")
        except ValueError:
            continue
        if status.startswith("sha256:"):
            return status
    raise BootstrapError(f"the engine did not say which image it made: {answer!r}")


def bootstrap(client: docker.DockerClient, rec: Recipe, *, cache_dir: Path | None = None,
              rebuild: bool = False, progress: Callable[[str], None] = print) -> str:
    """Make ``rec`` an image of the engine; returns its id. Already there (same key): nothing to do."""
    existing = None if rebuild else find(client, rec)
    if existing is not None:
        if rec.reference not in existing.tags:
            existing.tag(rec.repository, rec.tag)
        progress(f"{rec.reference} is already in the engine ({existing.id[:19]}, key {rec.key})")
        return existing.id
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="taiji-image-", dir=cache_dir) as scratch:
        cached = cache_dir / f"{rec.name}-{rec.key}.tar" if cache_dir else None
        if cached is not None and cached.is_file() and not rebuild:
            progress(f"Using the cached root file system {cached}")
            tarball = cached
        else:
            progress(f"Building {rec.reference} from Debian {rec.suite}: {' '.join(rec.packages)}")
            tarball = Path(scratch) / "rootfs.tar"
            _mmdebstrap(rec, tarball, progress)
            if cached is not None:
                os.replace(tarball, cached)  # whole or not at all, for the next run
                tarball = cached
        size = tarball.stat().st_size // (1024 * 1024)
        progress(f"Importing {size} MiB into the engine as {rec.reference}")
        image_id = _import(client, rec, tarball)
    publish(client, rec, image_id, progress)
    took = time.monotonic() - started
    progress(f"{rec.reference} is ready ({image_id[:19]}, key {rec.key}) in {took:.0f}s")
    return image_id


def publish(client: docker.DockerClient, rec: Recipe, image_id: str, progress: Callable[[str], None]) -> None:
    """Where a bootstrapped image goes beyond the engine. Taiji has no image registry of its own yet;
    when DPR exists, this pushes the image there (through ``dpr.services``) so that every engine
    of the install can pull it."""


def ensure_engine(client: docker.DockerClient) -> None:
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineError(f"the Docker engine does not answer: {exc}") from exc
