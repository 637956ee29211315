"""One fetch of a mirror at a time, and no database transaction open while git runs.

The live tests run against the served app's own committed database (PostgreSQL in CI), with a
forge that holds git's first request until the test lets it go: meanwhile the test looks at the
database from other sessions and asks for a second fetch."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from taiji.modules.vcs.models import Repository
from taiji.modules.vcs.models_external import ExternalSource
from taiji.modules.vcs.services import external, mirrors
from taiji.platform.db import db, utcnow

from .fixtures.forge import Forge
from .fixtures.gitdata import commit_files, seed_shop

PASSWORD = "claims-forge-token-77aa"


class HeldForge(Forge):
    """A forge whose first request waits until ``release`` is set: a slow fetch, held mid-git."""

    def __init__(self, *args):
        super().__init__(*args)
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def wsgi(self, environ, start_response):
        self.calls += 1
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(60)
        return super().wsgi(environ, start_response)


@pytest.fixture
def forge(tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "VCS_MIRROR_ALLOWED_HOSTS", ("127.0.0.1",))
    (tmp_path / "forge").mkdir()
    forge = HeldForge(tmp_path / "forge", "mirror-bot", PASSWORD)
    forge.release.set()  # not held unless a test asks
    forge.entered.set()
    forge.start()
    yield forge
    forge.release.set()
    forge.stop()


def _spec(forge) -> dict:
    return {"provider": "git", "url": f"{forge.url}/shop.git", "mirror": True,
            "mirror_credentials": {"username": "mirror-bot", "password": PASSWORD}}


def _source(repo_id: int) -> ExternalSource:
    return db.session.execute(sa.select(ExternalSource).where(ExternalSource.repository_id == repo_id)
                              .execution_options(populate_existing=True)).scalar_one()


# -- in the test's transaction -------------------------------------------------------------------


def test_a_mirror_another_fetch_holds_is_not_fetched_and_is_fetched_again_after(tenant, forge):
    seed_shop(forge.create("shop"))
    repo, _ = external.create_external(tenant, {"name": "shop", "external": _spec(forge)})
    db.session.commit()
    held = mirrors.claim_fetch(repo.id)
    db.session.commit()
    assert held is not None

    assert mirrors.fetch_mirror(repo.id) is False
    assert forge.calls == 0  # no second git
    source = _source(repo.id)
    assert source.fetch_again and source.fetch_claim == held.claim
    # The minute scan leaves a mirror alone while it is being fetched, though its interval has passed.
    assert mirrors.claim_due_mirrors(utcnow() + dt.timedelta(minutes=10)) == []

    assert mirrors.record_fetch(held, mirrors.run_fetch(held))
    db.session.commit()
    source = _source(repo.id)
    assert source.fetch_claim is None and source.last_error is None and source.fetch_again
    assert forge.calls > 0
    # Asked for while the first ran: due again at once, not after the interval.
    assert mirrors.claim_due_mirrors(utcnow()) == [repo.id]
    assert mirrors.fetch_mirror(repo.id) is True
    assert _source(repo.id).fetch_again is False


def test_the_claim_of_a_worker_that_died_runs_out(tenant, forge):
    seed_shop(forge.create("shop"))
    repo, _ = external.create_external(tenant, {"name": "shop", "external": _spec(forge)})
    db.session.commit()
    db.session.execute(sa.update(ExternalSource).where(ExternalSource.repository_id == repo.id).values(
        fetch_claim="dead-worker", fetch_claimed_until=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert mirrors.fetch_mirror(repo.id) is True
    source = _source(repo.id)
    assert source.fetch_claim is None and source.fetch_claimed_until is None and source.last_fetched_at


def test_a_fetch_that_lost_its_claim_does_not_overwrite_the_one_that_took_over(tenant, forge):
    repo, _ = external.create_external(tenant, {"name": "shop", "external": _spec(forge)})
    db.session.commit()
    plan = mirrors.claim_fetch(repo.id)
    db.session.execute(sa.update(ExternalSource).where(ExternalSource.repository_id == repo.id)
                       .values(fetch_claim="the-next-one", last_error=None))
    db.session.commit()
    assert mirrors.record_fetch(plan, mirrors.FetchOutcome(False, "too late")) is False
    source = _source(repo.id)
    assert source.fetch_claim == "the-next-one" and source.last_error is None


# -- live: separate sessions on a committed database ---------------------------------------------


@pytest.fixture
def live_forge(git_server, tmp_path, monkeypatch):
    monkeypatch.setitem(git_server.app.config, "VCS_MIRROR_ALLOWED_HOSTS", ("127.0.0.1",))
    (tmp_path / "forge").mkdir()
    forge = HeldForge(tmp_path / "forge", "mirror-bot", PASSWORD).start()
    yield forge
    forge.release.set()
    forge.stop()


def _live_mirror(git_server, forge) -> int:
    from taiji.platform.tenancy import tenant_by_slug

    slug = f"m-{uuid.uuid4().hex[:8]}"
    git_server.account(slug, "owner")
    return git_server.run(lambda: external.create_external(
        tenant_by_slug(slug), {"name": "shop", "external": _spec(forge)})[0].id)


def _open_transactions(git_server) -> int:
    """Sessions of this database that sit inside a transaction (PostgreSQL; SQLite has no such view)."""
    with git_server.app.app_context():
        if db.engine.dialect.name != "postgresql":
            return 0
        with db.engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")).scalar_one()



@pytest.mark.live
def test_while_git_runs_no_transaction_is_open_and_a_second_fetch_starts_no_git(git_server, live_forge):
    forge = live_forge
    upstream = forge.create("shop")
    seed_shop(upstream)
    repo_id = _live_mirror(git_server, forge)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "ok", git_server.run(lambda: mirrors.fetch_mirror(repo_id))), daemon=True)
    worker.start()
    assert forge.entered.wait(30), "git never reached the forge"
    try:
        with git_server.app.app_context():
            # The fetching thread gave its connection back: nothing is checked out of the pool.
            assert db.engine.pool.checkedout() == 0
        assert _open_transactions(git_server) == 0

        def edit():
            if db.engine.dialect.name == "postgresql":
                db.session.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
            db.session.execute(sa.update(Repository).where(Repository.id == repo_id)
                               .values(description="edited while the mirror was fetched"))
            db.session.execute(sa.update(ExternalSource).where(ExternalSource.repository_id == repo_id)
                               .values(mirror_interval_s=3600))

        started = time.monotonic()
        git_server.run(edit)
        assert time.monotonic() - started < 3

        started = time.monotonic()
        assert git_server.run(lambda: mirrors.fetch_mirror(repo_id)) is False
        assert time.monotonic() - started < 5
        assert forge.calls == 1  # the held request is the only one: no second git
        newer = commit_files(upstream, {"NEWS": "pushed during the fetch\n"}, "News")
    finally:
        forge.release.set()
        worker.join(60)
    assert result.get("ok") is True

    def read():
        source = _source(repo_id)
        repo = db.session.get(Repository, repo_id)
        return (source.fetch_claim, source.last_error, source.mirror_interval_s, source.fetch_again,
                repo.description, repo.size_bytes)

    claim, error, interval, again, description, size = git_server.run(read)
    assert claim is None and error is None and size > 0
    # The outcome was written next to the edit, not over it.
    assert (interval, description) == (3600, "edited while the mirror was fetched")
    assert again  # the fetch asked for meanwhile comes next (queued, and due for the minute scan)
    assert git_server.run(lambda: mirrors.fetch_mirror(repo_id)) is True
    assert git_server.run(lambda: _source(repo_id).fetch_again) is False

    from taiji.modules.vcs.services import browse

    assert git_server.run(lambda: browse.resolve(db.session.get(Repository, repo_id), "main").hexsha) == newer


@pytest.mark.live
def test_of_two_simultaneous_claims_exactly_one_wins(git_server, live_forge):
    repo_id = _live_mirror(git_server, live_forge)
    for _ in range(5):
        barrier = threading.Barrier(2)
        plans: list = []

        def claim(barrier=barrier, plans=plans):
            def take():
                barrier.wait(10)
                return mirrors.claim_fetch(repo_id)

            plans.append(git_server.run(take))

        threads = [threading.Thread(target=claim) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        won = [plan for plan in plans if plan is not None]
        assert len(plans) == 2 and len(won) == 1, plans
        assert git_server.run(lambda p=won[0]: mirrors.record_fetch(p, mirrors.FetchOutcome(False, "test")))
