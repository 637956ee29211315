"""The safety net for lost post-receive hooks: ref updates written without a hook (or whose hook
failed) are published as ``vcs.push`` by the periodic task, once, and never twice with a hook."""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from flask import current_app

from taiji.modules.vcs import services, tasks
from taiji.modules.vcs.services import reconcile
from taiji.modules.vcs.services.gitdata import ZERO
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent

from .fixtures.gitdata import commit_files


def push_events(repo_name: str) -> list[dict]:
    rows = db.session.execute(sa.select(OutboxEvent).where(OutboxEvent.name == "vcs.push")
                              .order_by(OutboxEvent.id)).scalars()
    return [r.payload for r in rows if r.payload["repository"] == repo_name]


def age(path, ref: str, seconds: int = 600) -> None:
    """Make a ref look as if it moved ``seconds`` ago (past the grace for in-flight hooks)."""
    stamp = time.time() - seconds
    for target in (path / ref, (path / ref).parent, path / "packed-refs"):
        if target.exists():
            os.utime(target, (stamp, stamp))


def make_repo(tenant, name="app"):
    repo = services.create_repository(tenant, {"name": name})
    db.session.commit()
    return repo, services.local_git_dir(repo)


def test_a_commit_written_behind_the_hooks_back_is_published_exactly_once(tenant):
    _repo, path = make_repo(tenant)
    first = commit_files(path, {"README.md": "# App\n"}, "Start")
    second = commit_files(path, {"main.py": "print(1)\n"}, "Code")
    age(path, "refs/heads/main")

    assert tasks.reconcile_pushes.run() == 1
    db.session.commit()
    events = push_events("app")
    assert len(events) == 1
    event = events[0]
    assert event["tenant"] == tenant.slug and event["ref"] == "refs/heads/main"
    assert event["before"] == ZERO and event["after"] == second and event["pusher"] is None
    assert [c["id"] for c in event["commits"]] == [second, first]

    assert tasks.reconcile_pushes.run() == 0  # nothing new: nothing more
    db.session.commit()
    assert len(push_events("app")) == 1

    third = commit_files(path, {"main.py": "print(2)\n"}, "More")
    age(path, "refs/heads/main")
    assert services.reconcile_pushes() == 1
    db.session.commit()
    later = next(e for e in push_events("app") if e["after"] == third)
    assert (later["before"], later["after"]) == (second, third)
    assert [c["id"] for c in later["commits"]] == [third]


def test_a_ref_that_just_moved_is_left_to_its_hook(tenant):
    _repo, path = make_repo(tenant)
    commit_files(path, {"README.md": "# App\n"}, "Start")
    assert services.reconcile_pushes() == 0  # inside the grace period: the hook may be running
    assert push_events("app") == []
    assert services.reconcile_pushes(grace_s=0) == 1


def test_a_published_update_is_not_published_again(tenant):
    repo, path = make_repo(tenant)
    sha = commit_files(path, {"README.md": "# App\n"}, "Start")
    # What a working post-receive does.
    services.publish_push(repo, "refs/heads/main", ZERO, sha, None, [], key="http:abc:refs/heads/main")
    db.session.commit()
    age(path, "refs/heads/main")
    assert services.reconcile_pushes() == 0
    assert reconcile.published_tips(repo) == {"refs/heads/main": (ZERO, sha)}
    assert len(push_events("app")) == 1


def test_deleted_branches_and_new_tags_are_published(tenant):
    import git

    _repo, path = make_repo(tenant)
    main = commit_files(path, {"README.md": "# App\n"}, "Start")
    topic = commit_files(path, {"x": "1\n"}, "Topic", branch="topic")
    assert services.reconcile_pushes(grace_s=0) == 2
    db.session.commit()
    handle = git.Repo(str(path))
    handle.git.update_ref("-d", "refs/heads/topic")
    handle.git.tag("v1", main)
    assert services.reconcile_pushes(grace_s=0) == 2
    db.session.commit()
    events = push_events("app")
    assert len(events) == 4
    deletion = [e for e in events if e["ref"] == "refs/heads/topic" and e["after"] == ZERO]
    assert len(deletion) == 1 and deletion[0]["before"] == topic and deletion[0]["commits"] == []
    tagged = [e for e in events if e["ref"] == "refs/tags/v1"]
    assert len(tagged) == 1 and tagged[0]["after"] == main


def test_external_and_deleted_repositories_are_not_checked(tenant):
    repo, path = make_repo(tenant)
    commit_files(path, {"README.md": "# App\n"}, "Start")
    services.delete_repository(tenant, repo)
    db.session.commit()
    assert services.reconcile_pushes(grace_s=0) == 0
    scheduled = current_app.extensions["taiji"].periodic.values()
    assert "vcs.reconcile_pushes" in {entry["task"] for entry in scheduled}


def test_a_hook_arriving_after_the_task_publishes_nothing_more(app, tenant):
    from taiji.modules.vcs.hooks import HookListener, PushContext

    repo, path = make_repo(tenant)
    sha = commit_files(path, {"README.md": "# App\n"}, "Start")
    assert services.reconcile_pushes(grace_s=0) == 1
    db.session.commit()
    listener = HookListener(app, PushContext(tenant_id=tenant.id, repository_id=repo.id,
                                             pusher={"id": None, "email": "a@b.c", "name": "A"},
                                             roles=("owner",), is_admin=False))
    try:
        listener._post_receive([(ZERO, sha, "refs/heads/main")])  # the very late post-receive
    finally:
        listener.close()
    assert len(push_events("app")) == 1


def _bulk_repositories(count: int) -> None:
    """``count`` hosted repository rows without files (cheap: one INSERT), older than what follows,
    in another tenant (a platform's thousand repositories belong to many tenants)."""
    from taiji.modules.vcs.models import Repository
    from tests.factories import make_tenant

    tenant = make_tenant()

    db.session.execute(sa.insert(Repository), [
        {"tenant_id": tenant.id, "name": f"bulk-{n}", "live_name": f"bulk-{n}", "kind": "hosted",
         "storage_key": f"bulk/{tenant.id}-{n}.git", "version": 1} for n in range(count)])
    db.session.flush()


def test_a_repository_behind_the_first_thousand_is_reconciled_too(tenant):
    _bulk_repositories(1000)
    _repo, path = make_repo(tenant, "late")  # the 1,001st hosted repository
    sha = commit_files(path, {"README.md": "# Late\n"}, "Start")
    age(path, "refs/heads/main")
    assert tasks.reconcile_pushes.run() == 1
    db.session.commit()
    [event] = push_events("late")
    assert event["after"] == sha


def test_reconciliation_visits_every_page(tenant):
    shas = {}
    for n in range(7):
        _repo, path = make_repo(tenant, f"paged-{n}")
        shas[f"paged-{n}"] = commit_files(path, {"README.md": f"# {n}\n"}, "Start")
    # Pages of 3: full, full, and a last one of one (with any repositories of earlier tests first).
    assert services.reconcile_pushes(grace_s=0, page_size=3) == 7
    db.session.commit()
    for name, sha in shas.items():
        assert [e["after"] for e in push_events(name)] == [sha]


def test_a_ref_written_around_taiji_with_a_name_that_is_not_utf8_is_skipped_not_mangled(tenant):
    import subprocess

    _repo, path = make_repo(tenant, "odd")
    sha = commit_files(path, {"README.md": "# Odd\n"}, "Start")
    subprocess.run([b"git", b"--git-dir=" + bytes(path), b"update-ref", b"refs/heads/caf\xe9", sha.encode()],
                   check=True)
    assert services.reconcile_pushes(grace_s=0) == 1  # main only
    db.session.commit()
    assert [e["ref"] for e in push_events("odd")] == ["refs/heads/main"]
    assert services.reconcile_pushes(grace_s=0) == 0


def test_the_hand_over_task_announces_a_push_once_with_its_pusher(tenant):
    from taiji.modules.vcs.models import StorageReservation

    repo, path = make_repo(tenant, "handed")
    sha = commit_files(path, {"README.md": "# App\n"}, "Start")
    # What a post-receive that gave up leaves: the push landed, its room still held.
    db.session.add(StorageReservation(tenant_id=tenant.id, repository_id=repo.id, push_id="p-1",
                                      size_bytes=999))
    db.session.commit()
    pusher = {"id": 7, "email": "ada@example.com", "name": "Ada"}
    assert tasks.announce_push.run(repo.id, "p-1", [[ZERO, sha, "refs/heads/main"]], pusher) == 1
    db.session.commit()
    [event] = push_events("handed")
    assert event["pusher"] == pusher and event["after"] == sha
    assert services.storage_used(tenant) == repo.size_bytes  # measured; the room held is let go
    assert tasks.announce_push.run(repo.id, "p-1", [[ZERO, sha, "refs/heads/main"]], pusher) == 0
    assert services.reconcile_pushes(grace_s=0) == 0
    # A repository purged meanwhile: nothing to announce, nothing to retry.
    assert tasks.announce_push.run(10**9, "p-2", [[ZERO, sha, "refs/heads/main"]], pusher) == 0
