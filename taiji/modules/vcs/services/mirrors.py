"""Fetching mirrors of external repositories, with no database transaction open while git runs.

A clone or fetch can take minutes. Holding a transaction (and a pooled connection) that long
would pin the connection, keep PostgreSQL's vacuum from cleaning up, and block anybody who
writes the rows it locked. So one fetch is three steps:

1. ``claim_fetch`` (a short transaction): take the mirror with a conditional UPDATE, which only
   one worker can win, and read what git needs;
2. ``run_fetch`` (no database at all): check the address again, run git, measure the mirror;
3. ``record_fetch`` (a short transaction): write the outcome and let go of the mirror.

The claim is a lease (``fetch_claimed_until``): a worker that dies mid-fetch holds the mirror
only until the lease runs out, which is longer than git is ever allowed to run. A fetch asked
for while another runs starts no second git; it sets ``fetch_again``, and the running one queues
a new fetch when it ends (a push may have arrived after its git had looked).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm.util import identity_key

from taiji.platform.db import db, utcnow

from ..models import Repository
from ..models_external import ExternalSource
from . import mirror_policy
from .external import mirror_credentials, mirror_dir, queue_fetch, scrub

log = logging.getLogger("taiji.vcs.mirrors")

FETCH_TIMEOUT_S = 900
# Longer than git may run (at most two commands of FETCH_TIMEOUT_S each), so that a live fetch
# never loses its claim to a second one.
LEASE = dt.timedelta(seconds=2 * FETCH_TIMEOUT_S + 300)


@dataclass(frozen=True)
class FetchPlan:
    """What one fetch needs, read in the claiming transaction; plain values, no ORM rows."""

    repo_id: int
    source_id: int
    claim: str
    claimed_at: dt.datetime
    url: str
    path: Path
    credentials: dict | None


@dataclass(frozen=True)
class FetchOutcome:
    ok: bool
    error: str | None = None
    size_bytes: int | None = None


def _claimable(now: dt.datetime):
    return sa.or_(ExternalSource.fetch_claimed_until.is_(None), ExternalSource.fetch_claimed_until < now)


def claim_due_mirrors(now=None, limit: int = 200) -> list[int]:
    """Ids of the repositories whose mirror should be fetched now, marked as attempted so that
    the next scan does not queue them again while their fetch waits for a worker.

    Due: the interval has passed since the last attempt, or a fetch was asked for while another
    ran. A mirror being fetched right now is not due.
    """
    now = now or utcnow()
    stmt = (sa.select(ExternalSource).join(Repository, Repository.id == ExternalSource.repository_id)
            .where(ExternalSource.mirror.is_(True), Repository.deleted_at.is_(None), _claimable(now))
            .order_by(ExternalSource.last_attempt_at.is_not(None), ExternalSource.last_attempt_at))
    due = [s for s in db.session.execute(stmt.limit(limit * 4)).scalars()
           if s.fetch_again or s.fetch_due(now)][:limit]
    for source in due:
        source.last_attempt_at = now
    db.session.flush()
    return [s.repository_id for s in due]


def claim_fetch(repo_id: int, now: dt.datetime | None = None) -> FetchPlan | None:
    """Take the mirror of repository ``repo_id`` for one fetch; None when there is nothing to
    fetch or another fetch holds it (then it is marked to be fetched again when that one ends).

    The caller commits right after, before running git.
    """
    now = now or utcnow()
    claim = secrets.token_hex(16)
    mirror_of_live_repo = (
        (ExternalSource.repository_id == repo_id) & ExternalSource.mirror.is_(True)
        & ExternalSource.repository_id.in_(sa.select(Repository.id).where(Repository.id == repo_id,
                                                                          Repository.deleted_at.is_(None))))
    # One statement decides: whoever's UPDATE matches the unclaimed row holds the mirror.
    # PostgreSQL makes a concurrent UPDATE wait for this one and then re-check the condition; it
    # comes first in the transaction, so SQLite takes its write lock without upgrading a read.
    taken = db.session.execute(
        sa.update(ExternalSource).where(mirror_of_live_repo, _claimable(now))
        .values(fetch_claim=claim, fetch_claimed_until=now + LEASE, last_attempt_at=now, fetch_again=False)
        .execution_options(synchronize_session=False)).rowcount
    if not taken:
        # Held by another fetch (or nothing to fetch, then the flag is harmless). Not conditional
        # on the claim: should the running fetch let go in between, the minute scan sees the flag.
        db.session.execute(sa.update(ExternalSource).where(mirror_of_live_repo)
                           .values(fetch_again=True).execution_options(synchronize_session=False))
        return None
    repo = db.session.get(Repository, repo_id)
    source = db.session.execute(sa.select(ExternalSource).where(ExternalSource.repository_id == repo_id)
                                .execution_options(populate_existing=True)).scalar_one()
    return FetchPlan(repo_id=repo.id, source_id=source.id, claim=claim, claimed_at=now, url=source.url,
                     path=mirror_dir(repo), credentials=mirror_credentials(source))


def run_fetch(plan: FetchPlan) -> FetchOutcome:
    """Check the address and run git; touches no database. Never raises: a failure is an outcome."""
    from .repositories import disk_size

    verdict = mirror_policy.check(plan.url)
    if verdict.refused:
        return FetchOutcome(False, verdict.refused)
    options = mirror_policy.git_options(plan.url, verdict)
    path = plan.path
    try:
        env = _git_env(plan.credentials)
        if not (path / "HEAD").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _git([*options, "clone", "--quiet", "--mirror", "--", plan.url, str(path)], env)
        else:
            _git(["-C", str(path), "remote", "set-url", "origin", "--", plan.url], env)
            _git([*options, "-C", str(path), "fetch", "--quiet", "--prune", "origin"], env)
        return FetchOutcome(True, size_bytes=disk_size(path))
    except subprocess.TimeoutExpired:
        return FetchOutcome(False, "git timed out")
    except (RuntimeError, OSError) as exc:
        return FetchOutcome(False, scrub(str(exc), plan.credentials) or "git failed")
    except Exception:
        log.exception("mirror fetch failed", extra={"repository": plan.repo_id})
        return FetchOutcome(False, "The fetch failed unexpectedly; see the worker's log.")


def record_fetch(plan: FetchPlan, outcome: FetchOutcome) -> bool:
    """Write the outcome of a fetch and let go of the mirror; False when the claim was lost
    (its lease ran out and another fetch took over, whose outcome counts instead)."""
    values: dict = {"fetch_claim": None, "fetch_claimed_until": None,
                    "last_error": None if outcome.ok else (outcome.error or "git failed")}
    if outcome.ok:
        values["last_fetched_at"] = utcnow()
    mine = (ExternalSource.id == plan.source_id) & (ExternalSource.fetch_claim == plan.claim)
    released = db.session.execute(sa.update(ExternalSource).where(mine).values(**values)
                                  .execution_options(synchronize_session=False)).rowcount
    if not released:
        log.warning("a mirror fetch outlived its claim; its outcome is dropped",
                    extra={"repository": plan.repo_id})
        return False
    if outcome.size_bytes is not None:
        db.session.execute(sa.update(Repository).where(Repository.id == plan.repo_id)
                           .values(size_bytes=outcome.size_bytes).execution_options(synchronize_session=False))
    for model, ident in ((ExternalSource, plan.source_id), (Repository, plan.repo_id)):
        loaded = db.session.identity_map.get(identity_key(model, ident))
        if loaded is not None:
            db.session.expire(loaded)  # the UPDATEs above went around the ORM
    if outcome.ok:
        # The pushes that waited for this fetch's commits are announced with its outcome.
        from .mirror_pushes import publish_arrived

        publish_arrived(plan.repo_id, plan.claimed_at)
    # Read after the UPDATE: a request that set the flag before it is seen here; one that came
    # later waited for this row and leaves the flag set for the minute scan.
    again = db.session.execute(sa.select(ExternalSource.fetch_again)
                               .where(ExternalSource.id == plan.source_id)).scalar_one()
    if again:
        queue_fetch(plan.repo_id)  # the flag stays set until that fetch claims the mirror
    return True


def fetch_mirror(repo_id: int) -> bool:
    """Clone (the first time) or fetch the mirror of repository ``repo_id``; True when it worked.

    This call makes its own units of work: it commits the claim, runs git with no transaction open,
    then records the outcome and commits again. Call it from a task (or a shell), never inside
    a request's unit of work. Errors are recorded on the source, scrubbed of credentials, and
    shown in the console and the API; the next attempt comes after the mirror's interval (or
    with the next push webhook).
    """
    plan = claim_fetch(repo_id)
    db.session.commit()
    if plan is None:
        return False
    outcome = run_fetch(plan)
    record_fetch(plan, outcome)
    db.session.commit()
    return outcome.ok


# -- git -----------------------------------------------------------------------------------------


# git asks this helper for the mirror's username and password: it answers from the environment,
# so the credentials never appear in a URL, a command line or a file. It is given in git's
# environment (GIT_CONFIG_*), after an empty value that drops every helper of the host, which must
# neither store nor supply credentials. An inline helper needs no script on disk: a script written
# and then run by git could not be run ("Text file busy") while another thread of the same process
# forked, holding it open for writing.
_CREDENTIAL_HELPER = ("!f() { test \"$1\" = get || exit 0; printf 'username=%s\\npassword=%s\\n' "
                      "\"$TAIJI_MIRROR_USERNAME\" \"$TAIJI_MIRROR_PASSWORD\"; }; f")


def _git_env(credentials: dict | None) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "TAIJI_MIRROR_"))}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": mirror_policy.ALLOWED_PROTOCOLS,
                "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new"})
    helpers = [""]  # no helper of the host's configuration
    if credentials:
        # The helper answers git in lines of key=value: a line break in a value would add lines.
        if any(ch in str(value) for value in credentials.values() for ch in "\r\n\0"):
            raise RuntimeError("The mirror's username or password contains a line break: git cannot take it.")
        helpers.append(_CREDENTIAL_HELPER)
        env.update({"TAIJI_MIRROR_USERNAME": credentials["username"],
                    "TAIJI_MIRROR_PASSWORD": credentials["password"]})
    env["GIT_CONFIG_COUNT"] = str(len(helpers))
    for index, value in enumerate(helpers):
        env[f"GIT_CONFIG_KEY_{index}"] = "credential.helper"
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def _git(args: list[str], env: dict) -> None:
    # The credential helpers are in ``env`` (_git_env): none of the host's, only ours.
    result = subprocess.run(["git", *args], env=env, capture_output=True,  # noqa: S603,S607
                            timeout=FETCH_TIMEOUT_S, text=True, errors="replace")
    if result.returncode != 0:
        raise RuntimeError(result.stderr or result.stdout or f"git exited with {result.returncode}")
