"""Quotas under concurrency, through the served application: two uploads that each fit the
storage quota but not together, and more repository creations at once than the count quota
allows. Whatever the timing, the tenant never ends above its limit and the loser stores nothing.

On PostgreSQL the loser waits for the winner's commit and is refused by the quota itself. On
SQLite the loser's transaction can no longer become the writer once the winner committed: a JSON
request is then run again by the server with the write lock and gets the quota's refusal; an
upload (its body streamed, not kept) is told to send again (503), and doing so gets it.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import threading
import time
from urllib.parse import urlsplit

import pytest

BLOB = 256 * 1024
RETRY = "Send the request again"
OCTETS = "application/octet-stream"


def _tenant(live, slug: str, limits: dict, *, use_token: bool = True) -> dict:
    """A tenant with an owner's token (already used once, unless not ``use_token``) and the given
    quota limits, committed."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform import quotas
    from taiji.platform.db import db

    with live.app.app_context():
        user = iam.create_user(f"owner@{slug}.example", "Owner", "a-long-password-1")
        tenant = tm.create_tenant(slug, slug.title(), owner_id=user.id)
        _, token = iam.create_token(user, "race")
        for name, limit in limits.items():
            quotas.set_limit(tenant, name, limit)
        db.session.commit()
        account = {"slug": slug, "token": token, "tenant_id": tenant.id}
        db.session.remove()
    if use_token:
        # A token's first use writes its last-use time: not part of the race under test.
        assert _request(live, account, "GET", "/api/v1/me").status == 200
    return account


class Reply:
    def __init__(self, status: int, body: bytes):
        self.status, self.body = status, body

    @property
    def detail(self) -> str:
        return json.loads(self.body).get("detail", "") if self.body[:1] == b"{" else ""


def _connect(live, account, method: str, path: str, length: int, content_type: str):
    """A request whose headers are sent and whose body is not, yet."""
    url = urlsplit(live.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.putrequest(method, path)
    conn.putheader("Authorization", f"Bearer {account['token']}")
    conn.putheader("Content-Type", content_type)
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    return conn


def _finish(conn, rest: bytes) -> Reply:
    conn.send(rest)
    response = conn.getresponse()
    reply = Reply(response.status, response.read())
    conn.close()
    return reply


def _request(live, account, method: str, path: str, body: bytes = b"", content_type="application/json"):
    return _finish(_connect(live, account, method, path, len(body), content_type), body)


def _together(calls) -> list[Reply]:
    """Run the calls in threads released at the same instant; their replies in call order."""
    replies: list[Reply | None] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i, call):
        start.wait(timeout=30)
        replies[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(reply is not None for reply in replies), "a request did not finish"
    return replies


def _usage(live, account, name: str) -> int:
    rows = json.loads(_request(live, account, "GET", f"/api/v1/tenants/{account['slug']}/quotas").body)
    return next(row["used"] for row in rows if row["name"] == name)


def _folder(live, account, repository: str):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db
    from taiji.platform.tenancy import tenant_by_slug

    with live.app.app_context():
        repo = bpr.get_repository(tenant_by_slug(account["slug"]), repository)
        folder = live.data_dir / "bpr" / str(repo.tenant_id) / str(repo.id)
        db.session.remove()
    return folder


@pytest.mark.live
def test_two_uploads_that_fit_only_one_at_a_time_store_exactly_one(live):
    from taiji.modules.bpr.services import STORAGE_METER

    account = _tenant(live, "uploaders", {STORAGE_METER: BLOB + BLOB // 2})
    created = _request(
        live, account, "POST", "/api/v1/tenants/uploaders/bpr/repositories",
        json.dumps({"name": "drops", "kind": "generic"}).encode(),
    )
    assert created.status == 201, created.body
    folder = _folder(live, account, "drops")
    bodies = {"a.bin": os.urandom(BLOB), "b.bin": os.urandom(BLOB)}
    conns = {}
    for name, body in bodies.items():
        conns[name] = _connect(live, account, "PUT", f"/bpr/uploaders/drops/{name}", BLOB, OCTETS)
        conns[name].send(body[: BLOB // 2])
    # Both uploads passed the quota check made before streaming and are writing their bytes.
    deadline = time.monotonic() + 20
    while len(list(folder.glob(".upload-*"))) < 2:
        assert time.monotonic() < deadline, "the two uploads did not stream at the same time"
        time.sleep(0.02)

    names = list(bodies)
    finishing = [lambda n=n: _finish(conns[n], bodies[n][BLOB // 2 :]) for n in names]
    replies = dict(zip(names, _together(finishing), strict=True))

    winners = [n for n, reply in replies.items() if reply.status == 201]
    assert len(winners) == 1, {n: (r.status, r.body[:300]) for n, r in replies.items()}
    [winner], [loser] = winners, [n for n in names if n not in winners]
    refused = replies[loser]
    if refused.status == 503 and RETRY in refused.detail:  # SQLite: the winner committed first
        refused = _request(live, account, "PUT", f"/bpr/uploaders/drops/{loser}", bodies[loser], OCTETS)
    assert refused.status == 413, refused.body
    assert "nothing was stored" in refused.detail and "bpr.storage_bytes" in refused.detail

    assert _usage(live, account, STORAGE_METER) == BLOB
    files = _request(live, account, "GET", "/api/v1/tenants/uploaders/bpr/repositories/drops/files")
    listed = json.loads(files.body)
    assert [f["path"] for f in listed] == [winner]
    # One blob on disk, the winner's: the loser's bytes and temporary file are gone.
    assert sorted(p.name for p in folder.iterdir()) == [hashlib.sha256(bodies[winner]).hexdigest()]
    assert _request(live, account, "GET", f"/bpr/uploaders/drops/{winner}").body == bodies[winner]


@pytest.mark.live
def test_more_repositories_created_at_once_than_the_quota_allows_make_exactly_the_limit(live):
    limit = 3
    account = _tenant(live, "creators", {"bpr.repositories": limit})
    path = "/api/v1/tenants/creators/bpr/repositories"
    bodies = [json.dumps({"name": f"repo-{i}", "kind": "generic"}).encode() for i in range(limit + 1)]
    # Everything but the last byte goes first, so that the requests arrive as one.
    conns = [_connect(live, account, "POST", path, len(body), "application/json") for body in bodies]
    for conn, body in zip(conns, bodies, strict=True):
        conn.send(body[:-1])
    replies = _together([lambda c=c, b=b: _finish(c, b[-1:]) for c, b in zip(conns, bodies, strict=True)])

    for _ in range(20):  # SQLite: a create that waited past the busy timeout is sent again
        again = [i for i, r in enumerate(replies) if r.status == 503 and RETRY in r.detail]
        if not again:
            break
        for i in again:
            replies[i] = _request(live, account, "POST", path, bodies[i])
    statuses = sorted(r.status for r in replies)
    assert statuses == [201] * limit + [409], [(r.status, r.body[:200]) for r in replies]
    refused = next(r for r in replies if r.status == 409)
    assert f"{limit} used of {limit}" in refused.detail and "bpr.repositories" in refused.detail
    listed = json.loads(_request(live, account, "GET", path).body)
    assert len(listed) == limit
    assert _usage(live, account, "bpr.repositories") == limit


# -- the same interleaving, one step at a time, in one process ---------------------------------------


def _stream(tenant, repository, body: bytes):
    from taiji.modules.bpr.services.files import write_stream

    return write_stream(tenant, repository, io.BytesIO(body), length=len(body))


def _record(tenant, repository, stored, path: str):
    from taiji.modules.bpr.services.files import add_file

    return add_file(tenant, repository, stored, path=path, filename=path)


def test_an_upload_that_no_longer_fits_when_it_is_recorded_is_refused_and_its_blob_removed(
    tenant, make_repo
):
    from taiji.modules.bpr import services as bpr
    from taiji.modules.bpr import storage
    from taiji.platform import quotas
    from taiji.platform.db import db

    repository = make_repo("steps")
    quotas.set_limit(tenant, bpr.STORAGE_METER, 1000)
    db.session.commit()
    mine = _stream(tenant, repository, b"m" * 600)  # room for it when it started
    bpr.store_generic(tenant, repository, "first.bin", io.BytesIO(b"f" * 600), length=600)
    db.session.commit()  # another upload finished while this one streamed
    with pytest.raises(bpr.PayloadTooLarge, match="nothing was stored"):
        _record(tenant, repository, mine, "second.bin")
    db.session.rollback()
    assert not storage.storage().local_path(mine.key).exists()
    assert bpr.storage_used(tenant) == 600
    assert [f.path for f in bpr.list_files(repository).items] == ["first.bin"]


def test_a_refused_upload_leaves_the_blob_a_committed_file_shares_with_it(tenant, make_repo):
    from taiji.modules.bpr import services as bpr
    from taiji.modules.bpr import storage
    from taiji.platform import quotas
    from taiji.platform.db import db

    repository = make_repo("shared")
    quotas.set_limit(tenant, bpr.STORAGE_METER, 1000)
    db.session.commit()
    body = b"same bytes " * 50
    mine = _stream(tenant, repository, body)
    assert mine.created
    other = bpr.store_generic(tenant, repository, "other.bin", io.BytesIO(body), length=len(body))
    db.session.commit()  # the same bytes, uploaded and recorded meanwhile: one blob for both
    with pytest.raises(bpr.PayloadTooLarge):
        _record(tenant, repository, mine, "mine.bin")
    db.session.rollback()
    with storage.storage().open(other.storage_key) as stream:
        assert stream.read() == body


def test_a_path_taken_while_the_upload_streamed_is_409_in_an_immutable_repository(tenant, make_repo):
    from taiji.modules.bpr import services as bpr
    from taiji.modules.bpr import storage
    from taiji.platform.db import db
    from taiji.platform.errors import Conflict

    repository = make_repo("frozen", immutable=True)
    mine = _stream(tenant, repository, b"mine")
    bpr.store_generic(tenant, repository, "v1.bin", io.BytesIO(b"theirs"), length=6)
    db.session.commit()
    with pytest.raises(Conflict, match="cannot be overwritten"):
        _record(tenant, repository, mine, "v1.bin")
    db.session.rollback()
    assert not storage.storage().local_path(mine.key).exists()
    assert bpr.find_file(repository, "v1.bin").size == 6
