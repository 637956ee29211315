"""The OAuth signing key of an install that has none yet.

The suite's session database is given a committed key before its first test (tests/conftest.py,
``app``), so that tests stop making one each; this proves what an install does before that."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.iam.oauth import keys
from taiji.modules.iam.oauth.models import SigningKey
from taiji.platform.db import db


def test_the_first_sign_in_of_an_install_without_a_key_makes_one_and_publishes_it(login, admin, client):
    db.session.execute(sa.delete(SigningKey))
    db.session.flush()
    keys.invalidate_cache()

    # The console signs in through the platform's own OpenID provider, which signs an ID token.
    login(admin)
    [row] = db.session.execute(sa.select(SigningKey)).scalars()
    assert row.retired_at is None
    assert "PRIVATE KEY" not in row.private_key_encrypted  # stored sealed
    published = client.get("/oauth/jwks").json["keys"]
    assert [key["kid"] for key in published] == [row.kid]
    assert "d" not in published[0]
