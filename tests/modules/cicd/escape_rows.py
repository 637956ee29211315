"""The runners the escape suite (test_escape.py) attacks. A runner joins by appending a Row: the
suite then runs every attack on it too (the docker runner adds its row with its engine's setting)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    kind: str  # the `runner:` the attacking jobs ask for
    # True: nothing isolates the jobs, the suite asserts every attack SUCCEEDS (proving it can fail).
    escapes: bool
    # Extra environment of the worker that runs the jobs (e.g. the Docker engine to use).
    worker_env: Callable[[], dict[str, str]] = field(default=dict)
    # Why the row cannot run on this machine, or None.
    skip: Callable[[], str | None] = field(default=lambda: None)
    # The xdist group of a row whose jobs run on something the session shares (tests/conftest.py).
    xdist_group: str | None = None


def _sandbox_missing() -> str | None:
    tools = ("bwrap", "slirp4netns", "nsenter", "unshare")
    missing = [tool for tool in tools if shutil.which(tool, path="/usr/bin:/usr/sbin:/bin:/sbin") is None]
    return f"the sandbox needs {', '.join(missing)}" if missing else None


def _host_needs_root() -> str | None:
    # As root, a host job can read everything the attacks aim at; as another user the data folder's
    # modes would stop some of them, and this row would prove less.
    return None if os.geteuid() == 0 else "the host row assumes the worker runs as root, as on these machines"


def _docker_engine() -> dict[str, str]:
    # The session's engine (CI's, or a private dockerd) and the bootstrapped default image in it.
    from tests.dockerd import default_job_image, engine_host

    host = engine_host()
    return {"TAIJI_DOCKER_HOST": host, "TAIJI_CICD_DEFAULT_IMAGE": default_job_image(host)}


def _docker_missing() -> str | None:
    from tests.dockerd import engine_missing

    return engine_missing()


ROWS: list[Row] = [
    Row("host", escapes=True, skip=_host_needs_root),
    Row("sandbox", escapes=False, skip=_sandbox_missing),
    Row("docker", escapes=False, worker_env=_docker_engine, skip=_docker_missing, xdist_group="docker"),
]
