"""``taiji demo``: seed the tenant ``demo`` with the example product and let its pipelines run.

Everything is made through the modules' services (users, tenant, hosted repositories, the
package index), and the code reaches Taiji the way a developer's does: the real ``git`` client
pushes each example service over HTTP with a freshly minted personal access token, so the push
hook publishes ``vcs.push`` and the pipeline starts as it would for anyone.

It is built to be run again: every record is made only when missing (and the run says what it
reused), a service whose files did not change is not pushed, and each step stands on its own, so a
step that fails (git cannot reach the server, the database is busy) is reported with what is left
and the steps that do not depend on it still run. The owner's password is printed the moment the
account exists, before anything can fail; ``--new-password`` gives a lost one back.
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

import sqlalchemy.exc

from taiji.platform import tenancy
from taiji.platform.db import db
from taiji.platform.errors import ServiceError

TENANT = "demo"
TENANT_NAME = "Demo"
USER_EMAIL = "demo@taiji.example"
USER_NAME = "Demo Owner"
PACKAGE_INDEX = "pypi-internal"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GIT_TIMEOUT = 120
# A busy database (SQLite while the server and worker write) is worth a few more tries.
DB_ATTEMPTS = 4
DB_PAUSE = 1.0


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
    password: str | None = None  # only when the account is made (or --new-password)
    services: list[ServiceResult] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)  # what was there already
    left: list[str] = field(default_factory=list)  # what could not be done, each with why

    @property
    def finished(self) -> bool:
        return not self.left

    @property
    def index_url(self) -> str:
        return f"{self.base_url}/pypi/{TENANT}/{PACKAGE_INDEX}/simple/"


def example_services(root: Path = EXAMPLES) -> list[Path]:
    """The example folders that hold a pipeline file, by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / ".taiji.yml").is_file())


class _StepFailed(Exception):
    """A step that could not be done; the message says what and why."""


def _step(what: str, action: Callable[[], object]):
    """Run one unit of work and commit it; a busy database is tried again, then given up."""
    for attempt in range(1, DB_ATTEMPTS + 1):
        try:
            value = action()
            db.session.commit()
            return value
        except sqlalchemy.exc.OperationalError as exc:
            db.session.rollback()
            if attempt == DB_ATTEMPTS:
                reason = str(exc.orig or exc).splitlines()[0]
                raise _StepFailed(f"{what}: the database did not answer ({reason})") from None
            time.sleep(DB_PAUSE * attempt)
        except ServiceError as exc:
            db.session.rollback()
            raise _StepFailed(f"{what}: {exc.detail}") from None


def _owner(result: DemoResult, echo, *, new_password: bool):
    from taiji.modules.iam import services as iam

    def make():
        user = iam.get_user_by_email(USER_EMAIL)
        password = None
        if user is None:
            # Built to pass the password policy: long, random, no pattern.
            password = secrets.token_urlsafe(12)
            user = iam.create_user(USER_EMAIL, USER_NAME, password)
        elif new_password:
            password = secrets.token_urlsafe(12)
            iam.set_password(user, password)
        return user.id, password

    user_id, password = _step(f"the owner {USER_EMAIL}", make)
    if password is None:
        result.reused.append(f"the owner {USER_EMAIL}")
    else:
        result.password = password
        # Now, before any other step can fail: this password is not stored anywhere in clear.
        credentials(result, echo)
    return user_id


def _records(result: DemoResult, user_id: int, names: list[str], echo) -> None:
    """Tenant, package index and one repository per service, each only when missing."""
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.modules.vcs import services as vcs

    def tenant():
        if tenancy.tenant_by_slug(TENANT) is not None:
            return False
        tm.create_tenant(TENANT, TENANT_NAME, owner_id=user_id)
        return True

    def index():
        found = tenancy.tenant_by_slug(TENANT)
        if bpr.find_repository(found, PACKAGE_INDEX) is not None:
            return False
        # Public read, so that `pip install` works without a token; uploads still need one.
        spec = {"name": PACKAGE_INDEX, "kind": "pypi", "visibility": "public",
                "description": "Wheels published by the demo's pipelines."}
        bpr.create_repository(found, spec, actor=iam.get_user(user_id))
        return True

    def repository(name):
        found = tenancy.tenant_by_slug(TENANT)
        if vcs.find_repository(found, name) is not None:
            return False
        vcs.create_repository(found, {"name": name, "description": f"Example service {name}"},
                              actor=iam.get_user(user_id))
        return True

    steps = [(f"the tenant {TENANT}", tenant), (f"the package index {PACKAGE_INDEX}", index)]
    steps += [(f"the repository {name}", lambda n=name: repository(n)) for name in names]
    for what, action in steps:
        made = _step(what, action)
        echo(f"{what}: {'created' if made else 'reused'}")
        if not made:
            result.reused.append(what)


def _mint_token(user_id: int) -> tuple[str, int]:
    from taiji.modules.iam import services as iam

    def mint():
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        row, token = iam.create_token(iam.get_user(user_id), "taiji demo push", expires_at=expires)
        return token, row.id

    return _step("a push token for git", mint)


def _revoke(token_id: int) -> None:
    from taiji.modules.iam import services as iam

    _step("revoking the push token", lambda: iam.revoke_token(iam.get_user_by_email(USER_EMAIL), token_id))


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


def run(base_url: str, *, wait: float = 120, start_timeout: float | None = None, examples: Path = EXAMPLES,
        echo: Callable[[str], None] = print, new_password: bool = False) -> DemoResult:
    """Seed the demo (inside an application context) and report what to look at and what is left.

    ``start_timeout`` bounds the wait for each pushed commit's pipeline to appear (the event
    relay and a worker must be running, as with ``taiji up``; default: ``wait``, at most 30 s);
    ``wait`` bounds the wait for the pipelines to finish (0: look once, do not wait)."""
    base_url = base_url.rstrip("/")
    folders = example_services(examples)
    if not folders:
        raise DemoError(f"No example service with a .taiji.yml under {examples}.")
    start_timeout = min(30.0, wait) if start_timeout is None else start_timeout
    result = DemoResult(base_url=base_url)
    try:
        user_id = _owner(result, echo, new_password=new_password)
        _records(result, user_id, [f.name for f in folders], echo)
        token, token_id = _mint_token(user_id)
    except _StepFailed as exc:
        result.left.append(str(exc))
        result.left.append("pushing the example services: needs the records above")
        db.session.remove()
        return result
    try:
        with tempfile.TemporaryDirectory(prefix="taiji-demo-") as tmp:
            for folder in folders:
                try:
                    sha, pushed = push_service(base_url, token, folder, Path(tmp))
                except DemoError as exc:
                    result.left.append(f"pushing {folder.name}: {exc}")
                    echo(f"{folder.name}: not pushed — {exc}")
                    continue
                result.services.append(ServiceResult(folder.name, sha, pushed))
                echo(f"{folder.name}: {'pushed' if pushed else 'already up to date at'} {sha[:10]}")
                if not pushed:
                    result.reused.append(f"the code of {folder.name} (unchanged)")
    finally:
        try:
            _revoke(token_id)
        except _StepFailed as exc:
            echo(f"Note: {exc}; the token expires within the hour anyway.")
    try:
        _follow(result, wait, start_timeout)
    except sqlalchemy.exc.OperationalError as exc:
        db.session.rollback()
        echo(f"Note: could not look at the pipelines ({str(exc.orig or exc).splitlines()[0]}); "
             "they run all the same.")
    db.session.remove()
    return result


def _follow(result: DemoResult, wait: float, start_timeout: float) -> None:
    """Find each pushed commit's pipeline, then wait (up to ``wait`` seconds) for them to finish."""
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


def credentials(result: DemoResult, echo: Callable[[str], None] = print) -> None:
    """The owner's login, printed as soon as the account (or its new password) exists."""
    echo("Sign in as the demo tenant's owner (this password is shown only now; keep it):")
    echo(f"  email:    {USER_EMAIL}")
    echo(f"  password: {result.password}")


def report(result: DemoResult, echo: Callable[[str], None] = print) -> None:
    """What the person who ran ``taiji demo`` should read: the login, the pipelines, pip, and what
    is left when something could not be done."""
    echo("")
    if result.password:
        credentials(result, echo)
    else:
        echo(f"Sign in as {USER_EMAIL} with the password shown when the demo first ran (lost it? "
             "`taiji demo --new-password` sets and shows a new one), or as an administrator.")
    if result.reused:
        echo(f"Reused what was already there: {', '.join(result.reused)}.")
    if result.services:
        echo("")
    for service in result.services:
        if service.pipeline_id is not None:
            echo(f"{service.name}: pipeline {service.pipeline_status} — "
                 f"{result.base_url}/t/{TENANT}/pipelines/{service.pipeline_id}")
        else:
            echo(f"{service.name}: no pipeline seen yet for {service.sha[:10]} (is `taiji up` running, "
                 f"with its worker and scheduler?) — "
                 f"{result.base_url}/t/{TENANT}/repositories/{service.name}/pipelines")
    if result.services:
        echo("")
        echo("Install the published packages from the tenant's package index:")
        names = " ".join(s.name for s in result.services)
        echo(f"  pip install --index-url {result.index_url} {names}")
    if result.left:
        echo("")
        echo("The demo is not finished. Left to do:")
        for item in result.left:
            echo(f"  - {item}")
        echo("Run `taiji demo` again to finish: what exists is reused, nothing is made twice.")
