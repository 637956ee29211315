"""A long upload holds neither the token's row nor a database transaction while it streams:
another request with the same token answers at once, and the upload is stored."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.modules.bpr.test_quota_race import OCTETS, _connect, _finish, _request

BODY = 256 * 1024


@pytest.mark.live
def test_a_request_with_a_token_does_not_wait_for_a_long_upload_made_with_the_same_token(live):
    from taiji.modules.bpr import services as bpr
    from taiji.modules.iam import services as iam
    from taiji.modules.iam.models import PersonalAccessToken
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    with live.app.app_context():
        user = iam.create_user("owner@tokens.example", "Owner", "a-long-password-1")
        tenant = tm.create_tenant("tokens", "Tokens", owner_id=user.id)
        row, token = iam.create_token(user, "uploads")
        bpr.create_repository(tenant, {"name": "drops", "kind": "generic"})
        db.session.commit()
        token_id = row.id
        db.session.remove()
    account = {"token": token}

    # The upload's request starts (its token's first use) and streams half of its body.
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
        assert db.session.get(PersonalAccessToken, token_id).last_used_at is not None
        db.session.remove()
