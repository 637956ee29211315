"""The repository storage quota holds against concurrent pushes, and a push cut off mid-pack costs
nothing for long (issue 12, finding 13) — with the real git client against a served Taiji."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

from .test_git_http_live import clone, commit

pytestmark = pytest.mark.live

MB = 1024 * 1024


@pytest.fixture
def team(git_server):
    slug = f"q-{uuid.uuid4().hex[:8]}"
    owner = git_server.account(slug, "owner")
    git_server.create_repo(slug, "app")
    return {"slug": slug, "owner": owner}


def _services():
    from taiji.modules.vcs import services
    from taiji.platform.tenancy import tenant_by_slug

    return services, tenant_by_slug


def usage(server, team) -> dict:
    """What the tenant is charged, what the repository holds on disk, and its quarantines."""
    from taiji.modules.vcs.services.repositories import disk_size

    services, tenant_by_slug = _services()

    def read():
        tenant = tenant_by_slug(team["slug"])
        repo = services.get_repository(tenant, "app")
        path = services.repository_path(repo)
        objects = path / "objects"
        return {"charged": services.storage_used(tenant), "recorded": repo.size_bytes,
                "on_disk": disk_size(path),
                "quarantines": sorted(p.name for p in objects.iterdir()
                                      if p.name.startswith(("incoming-", "tmp_objdir-")))}

    return server.run(read)


def set_limit(server, team, room: int) -> int:
    from taiji.platform import quotas

    services, tenant_by_slug = _services()

    def limit():
        tenant = tenant_by_slug(team["slug"])
        value = services.storage_used(tenant) + room
        quotas.set_limit(tenant, services.STORAGE_METER, value)
        return value

    return server.run(limit)


def repo_dir(server, team):
    services, tenant_by_slug = _services()
    return server.run(lambda: services.repository_path(services.get_repository(tenant_by_slug(team["slug"]),
                                                                                "app")))


def test_concurrent_pushes_that_together_pass_the_quota_stay_within_it(git_server, workdir, team):
    url = git_server.remote(team["slug"], "app", team["owner"]["token"])
    clone(git_server, url, workdir / "base")
    commit(git_server, workdir / "base", "README.md", "# App\n", "Start")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "base")
    # Each push holds about 1.5 MiB; the quota has room for two of the four.
    limit = set_limit(git_server, team, int(3.6 * MB))
    # Hold each push between its pre-receive check and its post-receive measurement for a while
    # (git runs this hook as it moves the refs), so that all four are checked before any lands:
    # the window a busy server gives concurrent pushes anyway.
    hook = repo_dir(git_server, team) / "hooks" / "reference-transaction"
    hook.write_text('#!/bin/sh\ncat >/dev/null\n[ "$1" = prepared ] && sleep 3\nexit 0\n')
    hook.chmod(0o755)

    clones = []
    for n in range(4):
        where = workdir / f"c{n}"
        clone(git_server, url, where)
        (where / f"blob{n}.bin").write_bytes(os.urandom(int(1.5 * MB)))
        git_server.git("add", ".", cwd=where)
        git_server.git("commit", "-q", "-m", f"big {n}", cwd=where)
        clones.append(where)
    results = [None] * 4

    def push(n):
        results[n] = git_server.git("push", "origin", f"main:refs/heads/b{n}", cwd=clones[n], check=False)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    accepted = [r for r in results if r.returncode == 0]
    refused = [r for r in results if r.returncode != 0]
    assert 1 <= len(accepted) <= 2 and refused, [r.stderr for r in results]
    for result in refused:
        assert "repository storage is full" in result.stderr and "vcs.storage_bytes" in result.stderr
    state = usage(git_server, team)
    assert state["charged"] <= limit, (state, limit)
    assert state["recorded"] == state["on_disk"] and state["charged"] == state["recorded"]  # nothing held
    branches = git_server.git("ls-remote", url, "refs/heads/b*").stdout.split("\n")
    assert len([b for b in branches if b]) == len(accepted)


class SlowLink:
    """A TCP relay on loopback that passes the client's bytes on at ``rate`` bytes a second (a slow
    uplink), so that a push can be cut off mid-pack; it counts what it forwarded. Once ``silent``,
    it forwards nothing more and closes nothing: a network gone without a word."""

    def __init__(self, target_port: int, rate: int = 2 * MB):
        self.target_port, self.rate = target_port, rate
        self.forwarded = 0
        self.silent = False
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, sink, slow):
        try:
            while chunk := source.recv(16384):
                while self.silent:
                    time.sleep(0.1)
                if slow:
                    time.sleep(len(chunk) / self.rate)
                    self.forwarded += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            if not self.silent:
                for conn in (source, sink):
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.silent = False
        self.server.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


def start_big_push(server, team, workdir, files=150, size=80 * 1024):
    """A push of ``files`` random files through a slow link, under way once 4 MiB have gone (more
    than a hundred objects: git streams them into a pack in its quarantine as they arrive)."""
    url = server.remote(team["slug"], "app", team["owner"]["token"])
    (workdir / "a" / "data").mkdir()
    for n in range(files):
        (workdir / "a" / "data" / f"{n}.bin").write_bytes(os.urandom(size))
    server.git("add", "data", cwd=workdir / "a")
    server.git("commit", "-q", "-m", "big", cwd=workdir / "a")
    link = SlowLink(int(server.url.rsplit(":", 1)[1]))
    slow_url = url.replace(server.url.rsplit(":", 1)[1], str(link.port), 1)
    env = {"PATH": os.environ["PATH"], "HOME": str(server.home), "GIT_TERMINAL_PROMPT": "0"}
    client = subprocess.Popen(["git", "push", slow_url, "main"], cwd=workdir / "a", env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while link.forwarded < 4 * MB and time.monotonic() < deadline:
        time.sleep(0.05)
    assert link.forwarded >= 4 * MB
    return client, link


def kill_client(client) -> None:
    """The pusher's machine stops: git and its helpers (one process group, ours) are killed."""
    os.killpg(client.pid, signal.SIGKILL)
    client.wait(timeout=10)


def started_push(server, team, workdir):
    url = server.remote(team["slug"], "app", team["owner"]["token"])
    clone(server, url, workdir / "a")
    commit(server, workdir / "a", "README.md", "# App\n", "Start")
    server.git("push", "-q", "origin", "main", cwd=workdir / "a")
    return url


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    return predicate()


def test_a_push_whose_client_goes_silent_mid_pack_is_abandoned_and_leaves_nothing(
        git_server, workdir, team, monkeypatch):
    monkeypatch.setitem(git_server.app.config, "VCS_PUSH_IDLE_SECONDS", 2)
    url = started_push(git_server, team, workdir)
    before = usage(git_server, team)
    client, link = start_big_push(git_server, team, workdir)
    assert usage(git_server, team)["quarantines"]  # git is receiving into its quarantine
    link.silent = True  # the network goes away without a word...
    kill_client(client)  # ...and the pusher's machine with it
    try:
        # The server stops waiting, git removes what it received, and nothing stays charged.
        assert wait_for(lambda: usage(git_server, team)["quarantines"] == [], timeout=30)
        state = usage(git_server, team)
        assert state["charged"] == state["recorded"] == state["on_disk"] == before["on_disk"]
    finally:
        link.close()
    # The repository takes pushes as before, measured right.
    clone(git_server, url, workdir / "b")
    commit(git_server, workdir / "b", "NOTES.md", "later\n", "Later")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "b")
    later = usage(git_server, team)
    assert later["charged"] == later["recorded"] == later["on_disk"] < before["on_disk"] + MB


def test_a_push_cut_off_by_a_server_restart_is_not_charged_and_its_quarantine_is_tidied(
        git_server, workdir, team):
    import psutil

    url = started_push(git_server, team, workdir)
    before = usage(git_server, team)
    client, link = start_big_push(git_server, team, workdir)
    # The server goes down mid-pack: its git processes (children of this test's server) are killed
    # outright, with no chance to clean up, as a restart of the whole service would.
    receivers = [p for p in psutil.Process().children(recursive=True)
                 if any(word in " ".join(p.cmdline()) for word in ("receive-pack", "unpack-objects",
                                                                    "index-pack"))]
    assert receivers
    for process in receivers:
        process.kill()
    kill_client(client)
    link.close()
    left = wait_for(lambda: usage(git_server, team)["quarantines"], timeout=10)
    assert left  # what git received is still there: nobody could remove it

    # It is not the repository's: a later push measures the repository without it.
    clone(git_server, url, workdir / "b")
    commit(git_server, workdir / "b", "NOTES.md", "later\n", "Later")
    git_server.git("push", "-q", "origin", "main", cwd=workdir / "b")
    later = usage(git_server, team)
    assert later["charged"] == later["recorded"] == later["on_disk"] < before["on_disk"] + MB

    # The hourly tidy-up (here without its hour of grace) removes it.
    from taiji.modules.vcs.services import storage

    assert git_server.run(lambda: storage.tidy_storage(stale_after=dt.timedelta(0))) >= 1
    tidied = usage(git_server, team)
    assert tidied["quarantines"] == []
    assert tidied["charged"] == tidied["recorded"] == tidied["on_disk"] == later["on_disk"]
