"""The sandbox's namespaces held for the whole job: its network, and the mounts of its folders.

One per job, made before its first line: a *holder* process (``unshare --user --map-root-user
--net --mount sleep``) owns a user namespace, an empty network namespace and a private copy of the
mount table. Into that mount namespace the worker binds the job's folders (workspace, tmp, venv)
under ``/run/taiji-job`` (a fresh tmpfs there hides the host's ``/run``): the sandbox's host user
thus reaches its folders without any access to the data folder's path. slirp4netns gives the
namespace a tap device whose traffic leaves through ordinary sockets of the host (so, to the
outside world, the job's connections come from the host), with host loopback disabled (10.0.2.2
is not the host's 127.0.0.1). What slirp would still reach — the host's other addresses, link-local
metadata services, the database and broker hosts, the private ranges of the setting — gets an
``unreachable`` route inside the namespace, set before any line runs. Every line's sandbox joins
this namespace from a *nested* user namespace, so it holds no capability over it and cannot
change the routes or the device.

All three processes run as the sandbox's host user, die with the worker (parent-death signal;
slirp also exits when its exit pipe closes) and are killed at the job's end.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import ipaddress
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from .executor import ExecutorError

UNSHARE, NSENTER, SLIRP, IP, SLEEP = (
    "/usr/bin/unshare",
    "/usr/bin/nsenter",
    "/usr/bin/slirp4netns",
    "/usr/sbin/ip",
    "/bin/sleep",
)
TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
READY_SECONDS = 10
RUN = "/run"
JOB_DIR = "/run/taiji-job"
ALWAYS_BLOCKED = ("169.254.0.0/16", "0.0.0.0/8")


def parent_death(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """preexec_fn: the child gets ``sig`` when the worker thread that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the worker died between fork and here
            os.kill(os.getpid(), sig)

    return arm


def identity_kwargs(uid: int, gid: int) -> dict:
    """Popen arguments that run a tool as the sandbox's host user (only a root worker switches)."""
    if os.geteuid() != 0 or uid == 0:
        return {}
    return {"user": uid, "group": gid, "extra_groups": []}


def _ns_link(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


class SandboxHolder:
    def __init__(self, uid: int, gid: int, blocked: Iterable[str]):
        self.uid, self.gid = uid, gid
        self.blocked = sorted(set(blocked))
        self.holder: subprocess.Popen | None = None
        self.slirp: subprocess.Popen | None = None
        self.userns_fd: int | None = None
        self.netns_fd: int | None = None
        self.mntns_fd: int | None = None
        self._exit_w: int | None = None

    # -- lifetime --------------------------------------------------------------------------

    def start(self, folders: dict[str, Path]) -> None:
        """Make the namespaces, bind ``folders`` (name -> host folder) at /run/taiji-job/<name>,
        start the network."""
        try:
            self._start_holder()
            # Three independent steps, each a few process starts: side by side.
            with ThreadPoolExecutor(max_workers=2) as pool:
                steps = [pool.submit(self._bind, folders), pool.submit(self._route)]
                try:
                    self._start_slirp()
                finally:
                    for step in steps:
                        step.result()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in (self.slirp, self.holder):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        for name in ("_exit_w", "userns_fd", "netns_fd", "mntns_fd"):
            fd = getattr(self, name)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)

    @property
    def fds(self) -> tuple[int, int, int]:
        return self.userns_fd, self.netns_fd, self.mntns_fd

    def enter(self) -> list[str]:
        """The command prefix that runs a program inside the namespaces as the sandbox's host user
        (root of the holder's user namespace there). By the holder's /proc paths, not descriptors:
        an inherited descriptor would stay open inside the sandbox. The holder is our unreaped
        child until ``stop``, so its pid cannot name another process meanwhile."""
        pid = self.holder.pid
        return [
            NSENTER,
            f"--user=/proc/{pid}/ns/user",
            f"--net=/proc/{pid}/ns/net",
            f"--mount=/proc/{pid}/ns/mnt",
            "--preserve-credentials",
            "--",
        ]

    # -- steps -------------------------------------------------------------------------------

    def _start_holder(self) -> None:
        self.holder = subprocess.Popen(  # noqa: S603 - fixed arguments
            [UNSHARE, "--user", "--map-root-user", "--net", "--mount", "--propagation", "private",
             "--", SLEEP, "infinity"],
            env=TOOL_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=parent_death(),
            **identity_kwargs(self.uid, self.gid),
        )
        pid = self.holder.pid
        own_user, own_net, own_mnt = (_ns_link("self", k) for k in ("user", "net", "mnt"))
        deadline = time.monotonic() + READY_SECONDS
        # Until unshare has run, /proc/<pid>/ns/net is the worker's own namespace: never join it.
        while True:
            if self.holder.poll() is not None:
                raise ExecutorError("the sandbox could not make its namespaces (unshare failed)")
            with contextlib.suppress(OSError):
                # Ready once unshare has exec'd sleep: by then it has also written the user
                # namespace's uid map (joined before, a process would hold no capability there).
                if (
                    _ns_link(pid, "user") != own_user
                    and _ns_link(pid, "net") != own_net
                    and _ns_link(pid, "mnt") != own_mnt
                    and Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
                    and Path(f"/proc/{pid}/uid_map").read_text().strip()
                ):
                    kinds = ("user", "net", "mnt")
                    fds = [os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC) for k in kinds]
                    self.userns_fd, self.netns_fd, self.mntns_fd = fds
                    # Opened, they cannot change: check again that none is the worker's own.
                    if all(
                        os.fstat(fd).st_ino != os.stat(f"/proc/self/ns/{k}").st_ino
                        for fd, k in zip(fds, kinds, strict=True)
                    ):
                        return
                    for fd in fds:
                        os.close(fd)
                    self.userns_fd = self.netns_fd = self.mntns_fd = None
            if time.monotonic() > deadline:
                raise ExecutorError("the sandbox's namespaces were not ready in time")
            time.sleep(0.005)

    def _bind(self, folders: dict[str, Path]) -> None:
        script = ["set -e", f"mount -t tmpfs -o size=64k,mode=0755 taiji-job {RUN}", f"mkdir {JOB_DIR}"]
        for index, name in enumerate(folders, start=1):
            script += [f"mkdir {JOB_DIR}/{name}", f'mount --bind "${index}" {JOB_DIR}/{name}']
        # A root worker enters only the mount namespace (it may mount there: it owns every
        # namespace); any other worker is the holder's owner and enters its user namespace too.
        if os.geteuid() == 0:
            enter = [NSENTER, f"--mount=/proc/self/fd/{self.mntns_fd}", "--"]
        else:
            enter = [
                NSENTER,
                f"--user=/proc/self/fd/{self.userns_fd}",
                f"--mount=/proc/self/fd/{self.mntns_fd}",
                "--preserve-credentials",
                "--",
            ]
        done = subprocess.run(  # noqa: S603 - fixed script, folders as arguments
            [*enter, "/bin/sh", "-c", "\n".join(script), "sh", *(str(p) for p in folders.values())],
            env=TOOL_ENV,
            capture_output=True,
            text=True,
            timeout=30,
            pass_fds=self.fds,
        )
        if done.returncode != 0:
            raise ExecutorError(f"the sandbox could not mount the job's folders: {done.stderr.strip()[:300]}")

    def _route(self) -> None:
        commands = "".join(f"route replace unreachable {net}\n" for net in self.blocked)
        commands += "link set lo up\n"
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [*self.enter(), IP, "-batch", "-"],
            input=commands,
            env=TOOL_ENV,
            capture_output=True,
            text=True,
            timeout=30,
            pass_fds=self.fds,
            **identity_kwargs(self.uid, self.gid),
        )
        if done.returncode != 0:
            raise ExecutorError(f"the sandbox could not set its routes: {done.stderr.strip()[:300]}")

    def _start_slirp(self) -> None:
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as slirp
        try:
            self.slirp = subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    SLIRP,
                    "--configure",
                    "--mtu=65520",
                    "--disable-host-loopback",
                    "--enable-seccomp",
                    f"--userns-path=/proc/self/fd/{self.userns_fd}",
                    "--netns-type=path",
                    f"--ready-fd={ready_w}",
                    f"--exit-fd={exit_r}",
                    f"/proc/self/fd/{self.netns_fd}",
                    "tap0",
                ],
                env=TOOL_ENV,
                stdin=subprocess.DEVNULL,
                stdout=errors,
                stderr=errors,
                start_new_session=True,
                pass_fds=(*self.fds, ready_w, exit_r),
                preexec_fn=parent_death(),
                **identity_kwargs(self.uid, self.gid),
            )
            os.close(ready_w)
            ready_w = None
            os.close(exit_r)
            exit_r = None
            readable, _, _ = select.select([ready_r], [], [], READY_SECONDS)
            if not readable or os.read(ready_r, 1) != b"1":
                errors.seek(0)
                text = errors.read().decode(errors="replace").strip().splitlines()
                last = text[-1] if text else "no output"
                raise ExecutorError(f"the sandbox's network (slirp4netns) did not start: {last}")
        finally:
            for fd in (ready_r, ready_w, exit_r):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            errors.close()


def blocked_networks(config: Mapping) -> list[str]:
    """What sandboxed jobs must not reach: the host, link-local, the platform's services, the
    configured ranges. IPv4 only: the sandbox has no IPv6 at all."""
    nets = set(ALWAYS_BLOCKED)
    nets.update(_host_addresses())
    nets.update(_service_addresses(_service_urls(config)))
    for value in config.get("CICD_BLOCKED_NETWORKS") or ():
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            continue
        if net.version == 4:
            nets.add(str(net))
    return sorted(nets)


def _host_addresses() -> set[str]:
    import psutil

    found = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(address.address)
            if not ip.is_loopback:
                found.add(f"{ip}/32")
    return found


def _service_urls(config: Mapping) -> tuple[str, ...]:
    keys = ("SQLALCHEMY_DATABASE_URI", "BROKER_URL", "REDIS_URL", "DOCKER_HOST")
    return tuple(str(config.get(k) or "") for k in keys)


@functools.lru_cache(maxsize=16)
def _service_addresses(urls: tuple[str, ...]) -> frozenset[str]:
    found = set()
    for url in urls:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            continue
        if not host:
            continue
        try:
            infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        for info in infos:
            ip = ipaddress.ip_address(info[4][0])
            if not ip.is_loopback:
                found.add(f"{ip}/32")
    return frozenset(found)
