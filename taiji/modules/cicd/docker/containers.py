"""One job attempt on a Docker engine: its network, its service containers and its job container.

The job container idles under the engine's init (tini) while each script line runs in it as an
``exec`` of uid 1000; the checkout is copied in at ``/workspace`` (the engine may be on another
machine, so nothing of the worker's file system is mounted) and what the job keeps is copied out.
Everything this module makes carries labels naming tenant, job and attempt, so that a retry can
find and remove what an earlier attempt left behind, whichever worker made it.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import docker.types
import requests.exceptions

from taiji.platform import safearchive

from . import firewall
from .engine import EngineError

LABEL = "org.taiji.cicd"
JOB_USER = "1000:1000"
WORKSPACE = "/workspace"
HOME = "/home/taiji"
# The container's own process: tini (the engine's --init) reaps what the job orphans, ``sleep`` keeps
# the container up for at most its lifetime. It runs as root without capabilities, so that the job's
# uid can signal all of its own processes (kill -1) without ending the container.
MAIN_USER = "0:0"
SERVICE_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"]


class JobError(Exception):
    """The job cannot run as written (unknown image, missing credentials...): the message says why,
    for the job's log, in the user's terms."""


@dataclass(frozen=True)
class Limits:
    cpus: float
    memory_mb: int
    pids: int
    cpu_seconds: int


@dataclass(frozen=True)
class Service:
    """An extra container of the job, reachable from it as ``alias`` on the job's network."""

    image: str
    alias: str
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    credentials: dict | None = None


@dataclass(frozen=True)
class Owner:
    tenant_id: int
    job_id: int
    attempt: int

    def labels(self, role: str) -> dict[str, str]:
        return {
            LABEL: "1",
            f"{LABEL}.tenant": str(self.tenant_id),
            f"{LABEL}.job": str(self.job_id),
            f"{LABEL}.attempt": str(self.attempt),
            f"{LABEL}.role": role,
        }


def remove_attempts(client: docker.DockerClient, job_id: int, *, attempt: int | None = None) -> int:
    """Remove the containers and networks of this job's attempts (all, or only ``attempt``).

    A worker that died mid-job leaves its container running; the retry must not run beside it
    (a deploy twice at once), so this runs before a retry starts anything. Returns how many
    containers it removed."""
    removed = 0
    selector = [f"{LABEL}.job={job_id}"]
    if attempt is not None:
        selector.append(f"{LABEL}.attempt={attempt}")
    # sparse: docker-py would inspect each listed container, and one removed meanwhile (its own
    # attempt's clean-up) raised NotFound out of here, failing the retry it was clearing for.
    for container in client.containers.list(all=True, sparse=True, filters={"label": selector}):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
            removed += 1
    for network in client.networks.list(filters={"label": selector}):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    return removed


class JobContainer:
    """The containers and network of one attempt. ``start`` … ``remove``; ``remove`` always runs."""

    def __init__(self, client: docker.DockerClient, owner: Owner, *, limits: Limits, hostname: str = "job"):
        self.client = client
        self.owner = owner
        self.limits = limits
        self.hostname = hostname
        self.suffix = uuid.uuid4().hex[:10]
        self.network = None
        self.container = None
        self.services: list = []

    # -- setting up ---------------------------------------------------------------------------

    def create_network(self) -> None:
        """A bridge of its own (``taiji…``, guarded by the host rules in firewall.py)."""
        name = f"taiji-job-{self.owner.job_id}-{self.owner.attempt}-{self.suffix}"
        self.network = self.client.networks.create(
            name,
            driver="bridge",
            labels=self.owner.labels("network"),
            options={
                "com.docker.network.bridge.name": f"{firewall.BRIDGE_PREFIX}{self.suffix}",
                # The job and its services talk to each other; nothing else is on this network.
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
            },
        )

    def _host_config(self, *, job: bool) -> dict:
        limits = self.limits
        config = {
            "mem_limit": f"{limits.memory_mb}m" if limits.memory_mb else None,
            "memswap_limit": f"{limits.memory_mb}m" if limits.memory_mb else None,
            "nano_cpus": int(limits.cpus * 1e9),
            "pids_limit": limits.pids,
            "security_opt": ["no-new-privileges"],
            # No IPv6: the host rules guard IPv4 and IPv6 alike, but a link-local IPv6 route to the
            # host's bridge address is one more door than the job needs.
            "sysctls": {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"},
            # A service's own output explains why it stopped; the job's goes through its execs.
            "log_config": docker.types.LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"})
            if not job else docker.types.LogConfig(type="none"),
            "init": True,
            "network": self.network.name,
        }
        if not job:
            # A service may run as root (many images set themselves up so, then switch users), but
            # with only the capabilities that takes: no raw sockets, device nodes, chroot or audit.
            config.update({"cap_drop": ["ALL"], "cap_add": SERVICE_CAPABILITIES})
        if job:
            config.update(
                {
                    "user": MAIN_USER,
                    "cap_drop": ["ALL"],
                    "ulimits": [
                        docker.types.Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds),
                        docker.types.Ulimit(name="core", soft=0, hard=0),
                    ],
                }
            )
        return {k: v for k, v in config.items() if v is not None}

    def start_service(self, service: Service, image: str) -> None:
        """Start a service container, known on the job's network by its alias."""
        container = self.client.containers.create(
            image,
            name=f"taiji-job-{self.owner.job_id}-{self.owner.attempt}-{self.suffix}-{service.alias}"[:120],
            command=list(service.command) if service.command else None,
            entrypoint=list(service.entrypoint) if service.entrypoint else None,
            environment=dict(service.env),
            hostname=service.alias[:63],
            labels=self.owner.labels("service"),
            detach=True,
            networking_config={self.network.name: self.client.api.create_endpoint_config(
                aliases=[service.alias])},
            **self._host_config(job=False),
        )
        self.services.append(container)
        container.start()

    def create_job_container(self, image: str, *, lifetime: int) -> None:
        self.container = self.client.containers.create(
            image,
            name=f"taiji-job-{self.owner.job_id}-{self.owner.attempt}-{self.suffix}",
            entrypoint=["sleep", str(lifetime)],
            command=[],
            working_dir=WORKSPACE,
            hostname=self.hostname[:63],
            labels=self.owner.labels("job"),
            detach=True,
            **self._host_config(job=True),
        )

    def copy_in(self, workspace: Path) -> None:
        """The checkout into /workspace (owned by the job's user), plus an empty home."""
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            with tarfile.open(fileobj=spool, mode="w") as tar:
                tar.addfile(_dir_entry(HOME.lstrip("/")))
                tar.addfile(_dir_entry(WORKSPACE.lstrip("/")))
                for path in sorted(workspace.rglob("*")):
                    rel = path.relative_to(workspace).as_posix()
                    info = tar.gettarinfo(str(path), arcname=f"{WORKSPACE.lstrip('/')}/{rel}")
                    info.uid = info.gid = 1000
                    info.uname = info.gname = ""
                    if info.isreg():
                        with path.open("rb") as fh:
                            tar.addfile(info, fh)
                    else:
                        tar.addfile(info)
            spool.seek(0)
            self.client.api.put_archive(self.container.id, "/", spool)

    def start(self) -> None:
        self.container.start()

    # -- running ------------------------------------------------------------------------------

    def exec_stream(self, line: str, env: dict[str, str]) -> tuple[str, Iterator[bytes]]:
        """Start ``line`` under ``sh -c`` as the job's user; returns the exec id and its output."""
        exec_id = self.client.api.exec_create(
            self.container.id,
            ["/bin/sh", "-c", line],
            user=JOB_USER,
            workdir=WORKSPACE,
            environment=[f"{k}={v}" for k, v in env.items()],
        )["Id"]
        return exec_id, self.client.api.exec_start(exec_id, stream=True)

    def disk_used(self) -> int:
        """Bytes the job container wrote into its own layer (the engine's SizeRw)."""
        # The SDK's inspect has no argument for ?size=1, hence its lower-level calls.
        url = self.client.api._url("/containers/{0}/json", self.container.id)
        state = self.client.api._result(self.client.api._get(url, params={"size": 1}), json=True)
        return int(state.get("SizeRw") or 0)

    def signal_all(self, signal: str) -> None:
        """``signal`` (TERM, KILL) to every process of the job's user in the container."""
        with contextlib.suppress(docker.errors.APIError):
            exec_id = self.client.api.exec_create(self.container.id, ["/bin/sh", "-c", f"kill -{signal} -1"],
                                                  user=JOB_USER)["Id"]
            self.client.api.exec_start(exec_id)

    def kill(self) -> None:
        """Every process of the job, at once: PID 1 (tini) dies and the namespace with it."""
        for container in [self.container, *self.services]:
            if container is None:
                continue
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                container.kill()

    # -- collecting and cleaning up -----------------------------------------------------------

    def copy_out(self, patterns_match: Callable[[str], bool], target: Path, *, max_bytes: int) -> int:
        """Copy the workspace files ``patterns_match`` selects (relative paths) into ``target``, an
        empty folder. Returns the bytes copied.

        Only regular files come back, each under its own relative path, into folders made here:
        links and devices the job made are skipped, and no path is ever followed through a link,
        so nothing the job (or its repository) arranges can place a file outside ``target``."""
        stream, _stat = self.client.api.get_archive(self.container.id, WORKSPACE)
        total = 0
        root = WORKSPACE.strip("/")
        try:
            for parts, size, reader in safearchive.tar_stream_files(_IterReader(stream)):
                rel = parts[1:]
                if parts[0] != root or not rel or not patterns_match("/".join(rel)):
                    continue
                total += size
                if total > max_bytes:
                    raise JobError(f"the files to keep are larger than {max_bytes // (1024 * 1024)} MiB")
                _write_new(target, rel, reader)
        except safearchive.ArchiveRefused as exc:
            raise JobError(f"the job's files could not be read back: {exc}") from None
        return total

    def remove(self) -> None:
        """The containers and the network, whatever state they are in."""
        for container in [self.container, *self.services]:
            if container is None:
                continue
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        if self.network is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.network.remove()


def _write_new(root: Path, parts: tuple[str, ...], source) -> None:
    """``root/parts…`` as a new file, its folders made (or found) as real folders, never links."""
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=folder)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
    finally:
        os.close(folder)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1024 * 1024):
            out.write(chunk)


def _dir_entry(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.uid = info.gid = 1000
    info.mtime = int(time.time())
    return info


class _IterReader(io.RawIOBase):
    """A file over the SDK's chunk iterator, for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = iter(chunks)
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


def engine_call(what: str):
    """Turn engine failures into EngineError naming the step (for the job's log)."""

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except docker.errors.APIError as exc:
            raise EngineError(f"{what}: {exc.explanation or exc}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise EngineError(f"{what}: the Docker engine does not answer ({exc})") from exc

    return guard()
