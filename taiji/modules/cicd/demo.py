"""``taiji demo``: seed the tenant ``demo`` with the example product and let its pipelines run.

Everything is made through the modules' services (users, tenant, hosted repositories, the
package index), and the code reaches Taiji the way a developer's does: the real ``git`` client
pushes each example service over HTTP with a freshly minted personal access token, so the push
hook publishes ``vcs.push`` and the pipeline starts as it would for anyone. Running it again
changes nothing that is already in place; a service whose files did not change is not pushed.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from taiji.platform import tenancy
from taiji.platform.db import db

TENANT = "demo"
TENANT_NAME = "Demo"
USER_EMAIL = "demo@taiji.example"
USER_NAME = "Demo Owner"
PACKAGE_INDEX = "pypi-internal"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GIT_TIMEOUT = 120


class DemoError(Exception):
    """Something the person running the demo must fix (message says what)."""


@dataclass
class ServiceResult:
    name: str
    sha: str
    pushed: bool
    pipeline_id: int | None = None
    pipeline_status: str | None = None


@dataclass
class DemoResult:
    base_url: str
    password: str | None = None  # only the first time: the login is printed once
    services: list[ServiceResult] = field(default_factory=list)

    @property
    def index_url(self) -> str:
        return f"{self.base_url}/pypi/{TENANT}/{PACKAGE_INDEX}/simple/"


def example_services(root: Path = EXAMPLES) -> list[Path]:
    """The example folders that hold a pipeline file, by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / ".taiji.yml").is_file())


def _ensure_records(names: list[str]) -> tuple[str | None, str, int]:
    """User, tenant, package index and repositories (each only when missing); mints a one-hour
    token for the push. Returns (new password or None, token, token id). Commits."""
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs

    password = None
    user = iam.get_user_by_email(USER_EMAIL)
    if user is None:
        # Built to pass the password policy: long, random, no pattern.
        password = secrets.token_urlsafe(12)
        user = iam.create_user(USER_EMAIL, USER_NAME, password)
    tenant = tenancy.tenant_by_slug(TENANT)
    if tenant is None:
        tenant = tm.create_tenant(TENANT, TENANT_NAME, owner_id=user.id)
    if bpr.find_repository(tenant, PACKAGE_INDEX) is None:
        # Public read, so that `pip install` works without a token; uploads still need one.
        index = {"name": PACKAGE_INDEX, "kind": "pypi", "visibility": "public",
                 "description": "Wheels published by the demo's pipelines."}
        bpr.create_repository(tenant, index, actor=user)
    for name in names:
        if vcs.find_repository(tenant, name) is None:
            vcs.create_repository(tenant, {"name": name, "description": f"Example service {name}"},
                                  actor=user)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    row, token = iam.create_token(user, "taiji demo push", expires_at=expires)
    db.session.commit()
    return password, token, row.id


def _revoke(token_id: int) -> None:
    from taiji.modules.iam import services as iam

    user = iam.get_user_by_email(USER_EMAIL)
    iam.revoke_token(user, token_id)
    db.session.commit()


def _git_env(home: Path, token: str) -> dict:
    """A clean environment for git: its own HOME, no prompts, the token in a header rather
    than on the command line or in a URL where `ps` and logs would show it."""
    basic = base64.b64encode(f"demo:{token}".encode()).decode()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_AUTHOR_NAME": USER_NAME, "GIT_AUTHOR_EMAIL": USER_EMAIL,
        "GIT_COMMITTER_NAME": USER_NAME, "GIT_COMMITTER_EMAIL": USER_EMAIL,
    }


def _git(args: list[str], cwd: Path, env: dict) -> str:
    try:
        # Fixed program, arguments built here from example folder names and our own URLs.
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,  # noqa: S603, S607
                              text=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise DemoError("The demo pushes with the git client; install git first.") from exc
    if done.returncode != 0:
        raise DemoError(f"git {args[0]} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout.strip()


def push_service(base_url: str, token: str, folder: Path, work: Path) -> tuple[str, bool]:
    """Clone the hosted repository, lay the example's files over it and push a commit when
    anything changed. Returns (sha of main, pushed?)."""
    name = folder.name
    env = _git_env(work, token)
    checkout = work / name
    _git(["clone", "--quiet", f"{base_url}/git/{TENANT}/{name}.git", str(checkout)], work, env)
    for entry in checkout.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(folder, checkout, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "dist", "report.xml", ".pytest_cache"))
    # Works on the unborn branch of an empty repository as well as on an existing main.
    _git(["symbolic-ref", "HEAD", "refs/heads/main"], checkout, env)
    _git(["add", "--all"], checkout, env)
    if not _git(["status", "--porcelain"], checkout, env):
        return _git(["rev-parse", "HEAD"], checkout, env), False
    _git(["commit", "--quiet", "-m", f"{name}: the example service of the Taiji demo"], checkout, env)
    _git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], checkout, env)
    return _git(["rev-parse", "HEAD"], checkout, env), True


def _pipeline_for(name: str, sha: str):
    from . import services

    db.session.remove()  # see what the web server and the workers committed since
    tenant = tenancy.tenant_by_slug(TENANT)
    page = services.list_pipelines(tenant, repository=name, page=1, per_page=10)
    return next((p for p in page.items if p.sha == sha), None)


def _wait(check: Callable[[], object], timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def run(base_url: str, *, wait: float = 120, start_timeout: float = 30, examples: Path = EXAMPLES,
        echo: Callable[[str], None] = print) -> DemoResult:
    """Seed the demo (inside an application context) and report what to look at.

    ``start_timeout`` bounds the wait for each pushed commit's pipeline to appear (the event
    relay and a worker must be running, as with ``taiji up``); ``wait`` bounds the wait for the
    pipelines to finish (0: do not wait)."""
    base_url = base_url.rstrip("/")
    folders = example_services(examples)
    if not folders:
        raise DemoError(f"No example service with a .taiji.yml under {examples}.")
    result = DemoResult(base_url=base_url)
    result.password, token, token_id = _ensure_records([f.name for f in folders])
    try:
        with tempfile.TemporaryDirectory(prefix="taiji-demo-") as tmp:
            for folder in folders:
                sha, pushed = push_service(base_url, token, folder, Path(tmp))
                result.services.append(ServiceResult(folder.name, sha, pushed))
                echo(f"{folder.name}: {'pushed' if pushed else 'already up to date at'} {sha[:10]}")
    finally:
        _revoke(token_id)
    for service in result.services:
        found = _wait(lambda s=service: _pipeline_for(s.name, s.sha), start_timeout)
        if found is not None:
            service.pipeline_id, service.pipeline_status = found.id, found.status
    if wait > 0:
        deadline = time.monotonic() + wait
        for service in result.services:
            if service.pipeline_id is None:
                continue
            found = _wait(lambda s=service: (p := _pipeline_for(s.name, s.sha)) is not None and p.done and p,
                          max(0.0, deadline - time.monotonic()), interval=1)
            if found:
                service.pipeline_status = found.status
    db.session.remove()
    return result


def report(result: DemoResult, echo: Callable[[str], None] = print) -> None:
    """What the person who ran ``taiji demo`` should read: the login, the pipelines, pip."""
    echo("")
    if result.password:
        echo("Sign in as the demo tenant's owner (this password is shown only now):")
        echo(f"  email:    {USER_EMAIL}")
        echo(f"  password: {result.password}")
    else:
        echo(f"Sign in as {USER_EMAIL} (password shown when the demo first ran), or as an administrator.")
    echo("")
    for service in result.services:
        if service.pipeline_id is not None:
            echo(f"{service.name}: pipeline {service.pipeline_status} — "
                 f"{result.base_url}/t/{TENANT}/pipelines/{service.pipeline_id}")
        else:
            echo(f"{service.name}: no pipeline seen yet for {service.sha[:10]} (is `taiji up` running, "
                 f"with its worker and scheduler?) — "
                 f"{result.base_url}/t/{TENANT}/repositories/{service.name}/pipelines")
    echo("")
    echo("Install the published packages from the tenant's package index:")
    names = " ".join(s.name for s in result.services)
    echo(f"  pip install --index-url {result.index_url} {names}")
