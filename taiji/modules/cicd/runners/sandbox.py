"""The `sandbox` executor: each line of a job runs under bubblewrap.

What a line sees: user ``taiji`` (uid 1000) in its own user namespace, which is an unprivileged
host user outside (``TAIJI_CICD_SANDBOX_UID`` when the worker is root, else the worker's own user);
its own PID, IPC, UTS, mount and cgroup namespaces; the host's system folders read-only (``/usr``
and the ``/bin``, ``/sbin``, ``/lib*`` beside it) and a short list of ``/etc`` files (certificates,
the dynamic linker's cache, time zones...; ``passwd``, ``hosts``, ``resolv.conf`` are written for
it); a fresh ``/proc`` of its PID namespace and a minimal ``/dev``; the checkout read-write at
``/workspace``, its own ``/tmp`` and Python environment ``/venv``, all three from the job's folder
(so within its disk limit). Nothing else of the host: not the data folder, not ``/root``, ``/home``,
``/run`` or ``/var``. The root and ``/dev`` are read-only, ``/dev/shm`` a small tmpfs. It cannot
create further user namespaces. Its network is the job's (sandbox_net.py): outside yes, host and
platform services no.

The folders reach bubblewrap through the job's mount namespace (sandbox_ns.py), so the sandbox's
host user never needs (and has no) access to the data folder's path. Options travel through a
descriptor, so the job's environment (its secrets) never appears in the host's process list.

A line's sandbox is its own PID namespace: when the line's shell exits, the kernel kills whatever
it left (daemons, double forks, ``setsid``, ``nohup``), and when the worker dies the sandbox dies
with it (``--die-with-parent``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import stat
import subprocess
from pathlib import Path

from .executor import Executor, ExecutorError, JobContext, LineProcess, PopenLine, register_executor
from .host import rlimits
from .sandbox_ns import (
    IP,
    JOB_DIR,
    NSENTER,
    SLIRP,
    TOOL_ENV,
    UNSHARE,
    SandboxHolder,
    blocked_networks,
    identity_kwargs,
    parent_death,
)

log = logging.getLogger("taiji.cicd.runner")

BWRAP = "/usr/bin/bwrap"
JOB_UID = 1000
HOSTNAME = "taiji-job"
SHM_BYTES = 64 * 1024 * 1024
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc entries a job's tools need; nothing with credentials (no pip.conf, gitconfig, shadow...).
ETC_FROM_HOST = (
    "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "debian_version",
    "gai.conf", "host.conf", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
    "magic", "magic.mime", "mime.types", "os-release", "perl", "profile", "protocols", "services",
    "ssl", "terminfo", "timezone",
)  # fmt: skip
ETC_WRITTEN = {
    "passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"taiji:x:{JOB_UID}:{JOB_UID}:Taiji job:/workspace:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\ntaiji:x:{JOB_UID}:\nnogroup:x:65534:\n",
    "hosts": f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost ip6-localhost ip6-loopback\n",
    "hostname": f"{HOSTNAME}\n",
    # slirp4netns answers DNS on 10.0.2.3 (forwarding to the host's resolver).
    "resolv.conf": "nameserver 10.0.2.3\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\n"
    "protocols: files\nservices: files\n",
}
FOLDERS = {"workspace": "/workspace", "tmp": "/tmp", "venv": "/venv"}  # noqa: S108 - the sandbox's own


def available(config) -> str | None:
    missing = [tool for tool in (BWRAP, SLIRP, UNSHARE, NSENTER, IP) if not os.access(tool, os.X_OK)]
    if missing:
        return (
            f"the sandbox runner needs {', '.join(Path(m).name for m in missing)} on the worker "
            "(Debian packages bubblewrap, slirp4netns, util-linux, iproute2)"
        )
    return None


def sandbox_user(config) -> tuple[int, int]:
    """The host user jobs run as: the configured unprivileged id when the worker is root."""
    if os.geteuid() == 0:
        uid = int(config.get("CICD_SANDBOX_UID") or 64000)
        return uid, uid
    return os.geteuid(), os.getegid()


def _ensure_tun(uid: int) -> None:
    """slirp4netns (running as the sandbox's user) opens /dev/net/tun. Debian ships it 0666; a host
    that made it root-only gets Debian's mode back (it only lets a user make tap devices in network
    namespaces that user owns)."""
    if os.geteuid() != 0 or uid == 0:
        return
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
        if mode & 0o006 != 0o006:
            os.chmod("/dev/net/tun", 0o666)  # noqa: S103 - the device's standard mode
            log.warning("made /dev/net/tun mode 0666 (Debian's default) for the CI sandbox")


class SandboxExecutor(Executor):
    kind = "sandbox"

    def __init__(self, context: JobContext):
        super().__init__(context)
        self.uid, self.gid = sandbox_user(context.config)
        self.holder: SandboxHolder | None = None
        self._line: PopenLine | None = None

    def describe(self) -> str:
        return (
            f"sandbox (bubblewrap: uid {JOB_UID} in its own user, PID, IPC, UTS, mount and network "
            f"namespaces; host uid {self.uid}; no access to the host's services)"
        )

    def prepare(self) -> None:
        root = self.context.root
        for name in FOLDERS:
            (root / name).mkdir(mode=0o700)
        self._give(root, recursive=True)
        _ensure_tun(self.uid)
        self.holder = SandboxHolder(self.uid, self.gid, blocked_networks(self.context.config))
        self.holder.start({name: root / name for name in FOLDERS})

    def setup(self, env: dict[str, str]) -> dict[str, str]:
        self._give(self.context.workspace, recursive=True)
        extra = {"HOME": FOLDERS["workspace"], "TMPDIR": FOLDERS["tmp"]}
        python = self._python()
        if python is not None:
            venv = FOLDERS["venv"]
            made = self._start([python, "-m", "venv", "--without-pip", "--system-site-packages", venv], env)
            output = b""
            while (chunk := _read_blocking(made)) != b"":
                output += chunk
            if made.finish() != 0:
                raise ExecutorError(
                    "could not make the job's Python environment in the sandbox: "
                    + output.decode(errors="replace").strip()[-500:]
                )
            extra["VIRTUAL_ENV"] = venv
            extra["PATH"] = f"{venv}/bin:{env['PATH']}"
        return extra

    def spawn(self, line: str, env: dict[str, str]) -> LineProcess:
        return self._start(["/bin/sh", "-c", line], env)

    def stop(self, grace: float) -> None:
        line = self._line
        if line is not None and line.poll() is None:
            line.kill(grace)

    def teardown(self) -> None:
        if self._line is not None:
            with contextlib.suppress(OSError):
                self._line.finish()
        if self.holder is not None:
            self.holder.stop()

    # -- inside ------------------------------------------------------------------------------

    def _python(self) -> str | None:
        """The job's Python as the sandbox sees it (its system folders), or None for none."""
        config = self.context.config
        name = config.get("CICD_JOB_PYTHON") or ""
        found = shutil.which(name, path=config["CICD_JOB_PATH"]) if name else None
        if found is None:
            return None
        real = os.path.realpath(found)
        if not any(real == d or real.startswith(d + "/") for d in SYSTEM_DIRS):
            raise ExecutorError(
                f"TAIJI_CICD_JOB_PYTHON ({found}) is outside the system folders the sandbox shows "
                f"({', '.join(SYSTEM_DIRS)}); install the job's Python there or set it empty"
            )
        return found

    def _options(self, env: dict[str, str]) -> tuple[list[str], list[int]]:
        """bubblewrap's options and the descriptors they name (each used by one bwrap run)."""
        opts = [
            "--unshare-user", "--uid", str(JOB_UID), "--gid", str(JOB_UID), "--disable-userns",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", HOSTNAME, "--die-with-parent", "--new-session",
        ]  # fmt: skip
        fds: list[int] = []
        for folder in SYSTEM_DIRS:
            if os.path.islink(folder):
                opts += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                opts += ["--ro-bind", folder, folder]
        opts += ["--proc", "/proc", "--dev", "/dev"]
        opts += ["--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]  # noqa: S108
        opts += ["--dir", "/etc"]
        for name in ETC_FROM_HOST:
            opts += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for entry in sorted(os.listdir("/etc")):
            if entry.startswith("python3"):
                opts += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
        for name, text in ETC_WRITTEN.items():
            fd = _memfd(name, text.encode())
            fds.append(fd)
            opts += ["--perms", "0644", "--ro-bind-data", str(fd), f"/etc/{name}"]
        for name, target in FOLDERS.items():
            opts += ["--bind", f"{JOB_DIR}/{name}", target]
        opts += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/workspace", "--clearenv"]
        for key, value in env.items():
            opts += ["--setenv", key, value]
        return opts, fds

    def _start(self, argv: list[str], env: dict[str, str]) -> PopenLine:
        if self.holder is None:
            raise ExecutorError("the sandbox was not prepared")
        opts, fds = self._options(env)
        args_fd = _memfd("bwrap-args", b"".join(o.encode() + b"\0" for o in opts))
        fds.append(args_fd)
        limits = rlimits(self.context.limits)
        death = parent_death()

        def preexec() -> None:
            death()
            limits()

        try:
            proc = subprocess.Popen(  # noqa: S603 - the line runs inside the sandbox
                [*self.holder.enter(), BWRAP, "--args", str(args_fd), *argv],
                cwd="/",
                env=TOOL_ENV,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=tuple(fds),
                preexec_fn=preexec,
                **identity_kwargs(self.uid, self.gid),
            )
        finally:
            for fd in fds:
                os.close(fd)
        self._line = PopenLine(proc)
        return self._line

    def _give(self, path: Path, *, recursive: bool = False) -> None:
        """Hand the job's files to the sandbox's host user (a root worker checked them out)."""
        if os.geteuid() != 0 or self.uid == 0:
            return
        os.lchown(path, self.uid, self.gid)
        if not recursive:
            return
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(folder, name), self.uid, self.gid)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_blocking(line: PopenLine) -> bytes:
    while True:
        data = line.read()
        if data is not None:
            return data
        select.select([line.fileno()], [], [], 1.0)


register_executor(SandboxExecutor, available)
