"""A long upload holds neither the token's row nor a database transaction while it streams:
another request with the same token answers at once, and the upload is stored."""

from __future__ import annotations

import json
import os
import time

import pytest
import sqlalchemy as sa

from tests.modules.bpr.test_quota_race import OCTETS, _connect, _finish, _request, _tenant

BODY = 256 * 1024


@pytest.mark.live
def test_a_request_with_a_token_does_not_wait_for_a_long_upload_made_with_the_same_token(live):
    from taiji.modules.iam.models import PersonalAccessToken
    from taiji.platform.db import db

    account = _tenant(live, "tokens", {}, use_token=False)
    created = _request(live, account, "POST", "/api/v1/tenants/tokens/bpr/repositories",
                       json.dumps({"name": "drops", "kind": "generic"}).encode())
    assert created.status == 201, created.body

    # The upload's request starts (the token's first use this minute) and streams half its body.
    with live.app.app_context():
        db.session.execute(sa.update(PersonalAccessToken).values(last_used_at=None))
        db.session.commit()
        db.session.remove()
    body = os.urandom(BODY)
    upload = _connect(live, account, "PUT", "/bpr/tokens/drops/big.bin", BODY, OCTETS)
    upload.send(body[: BODY // 2])
    time.sleep(0.5)  # the upload's request is under way, its unit of work open

    started = time.monotonic()
    me = _request(live, account, "GET", "/api/v1/me")
    waited = time.monotonic() - started
    assert me.status == 200, me.body
    assert json.loads(me.body)["email"] == "owner@tokens.example"
    assert waited < 3, f"the second request waited {waited:.1f}s for the upload"

    # The upload held no transaction while it streamed: the other request's write (its token's
    # last use) does not spoil it, on SQLite either.
    finished = _finish(upload, body[BODY // 2 :])
    assert finished.status == 201, finished.body
    with live.app.app_context():
        used = db.session.scalars(sa.select(PersonalAccessToken.last_used_at)).all()
        db.session.remove()
    assert used and all(value is not None for value in used)
