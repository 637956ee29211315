"""`taiji keys rotate-config`: after a key change every sealed configuration value in the database
opens with the new key alone and no longer with the old one; clients read the same values before,
during and after; an interrupted run is finished by running it again."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from taiji.modules.scm.commands import config, keys
from taiji.platform import crypto
from taiji.platform.db import db

PURPOSE = "scm.config.value"
NEW_KEY = "rotated-secret-key-for-the-configuration-center-0123456789"
SECRETS = {"db.password": "pg-pa55-1", "api.token": "tok-2", "smtp.password": "mail-3", "s3.key": "s3-4"}


@pytest.fixture
def shop(app, tenant):
    from taiji.modules.spm import services as spm

    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    spm.create_component(tenant, product, {"name": "billing", "layer": "base"})
    return tenant


def _sealed_in_database() -> list[str]:
    """Every sealed value SCM stores: items, and the entries of release snapshots."""
    from taiji.modules.scm.models import Item, Release

    tokens = list(db.session.execute(sa.select(Item.sealed).where(Item.sealed.is_not(None))).scalars())
    for snapshot in db.session.execute(sa.select(Release.snapshot)).scalars():
        tokens += [entry["sealed"] for entry in snapshot if entry.get("sealed")]
    db.session.expire_all()
    return tokens


def _opens(app, monkeypatch, token: str, *, key: str) -> bool:
    monkeypatch.setitem(app.config, "SECRET_KEY", key)
    monkeypatch.setitem(app.config, "PREVIOUS_SECRET_KEYS", ())
    try:
        crypto.unseal(token, PURPOSE)
        return True
    except crypto.InvalidToken:
        return False


def _render(app, tenant) -> dict:
    result = CliRunner().invoke(config, ["render", "--tenant", tenant.slug, "--component", "billing", "--env",
                                         "dev", "--format", "json"], obj=app)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rotation_leaves_only_values_the_new_key_opens(app, shop, admin, monkeypatch):
    from taiji.modules.scm import services as scm

    old_key = app.config["SECRET_KEY"]
    for key, value in SECRETS.items():
        scm.put_item(shop, admin, "billing", "dev", key, value=value, secret=True)
    scm.put_item(shop, admin, "billing", "dev", "greeting", value="hi")
    scm.put_item(shop, admin, "billing", "dev", "shared.secret", value="tenant-wide", secret=True,
                 layer="tenant")
    scm.publish(shop, admin, "billing", "dev", comment="one")
    scm.put_item(shop, admin, "billing", "dev", "db.password", value="pg-pa55-changed", secret=True)
    scm.publish(shop, admin, "billing", "dev", comment="two")
    db.session.flush()
    expected = {**SECRETS, "db.password": "pg-pa55-changed", "greeting": "hi", "shared.secret": "tenant-wide"}
    before = _sealed_in_database()
    assert len(before) == 5 + 5 + 5  # 5 secret items, and each of the two releases holds the 5 secrets
    assert _render(app, shop) == expected

    # Every process gets the new key, the old one kept as previous: clients read on.
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "PREVIOUS_SECRET_KEYS", (old_key,))
    assert _render(app, shop) == expected

    result = CliRunner().invoke(keys, ["rotate-config", "--batch-size", "2"], obj=app)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Re-sealed 15 configuration value(s) under the current key."
    assert _render(app, shop) == expected  # during: both keys open

    after = _sealed_in_database()
    assert len(after) == len(before) and not set(after) & set(before)
    assert all(_opens(app, monkeypatch, token, key=NEW_KEY) for token in after)
    assert not any(_opens(app, monkeypatch, token, key=old_key) for token in after)
    assert not any(value in " ".join(after) for value in expected.values() if value != "hi")

    # The old key dropped: clients still read, the owner still reveals.
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "PREVIOUS_SECRET_KEYS", ())
    assert _render(app, shop) == expected
    shown = CliRunner().invoke(config, ["get", "--tenant", shop.slug, "--component", "billing", "--env",
                                        "dev", "db.password", "--reveal", "--as", admin.email], obj=app)
    assert shown.output == "pg-pa55-changed\n"


def test_an_interrupted_rotation_is_finished_by_running_it_again(app, shop, admin, monkeypatch):
    from taiji.modules.scm import services as scm
    from taiji.modules.scm.services import rotation

    old_key = app.config["SECRET_KEY"]
    for key, value in SECRETS.items():
        scm.put_item(shop, admin, "billing", "dev", key, value=value, secret=True)
    db.session.flush()
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "PREVIOUS_SECRET_KEYS", (old_key,))
    real = rotation.reseal_batch
    calls = []

    def dies_after_one_batch(kind, after, limit=500):
        if calls:
            raise KeyboardInterrupt
        calls.append(kind)
        return real(kind, after, limit)

    monkeypatch.setattr(rotation, "reseal_batch", dies_after_one_batch)
    interrupted = CliRunner().invoke(keys, ["rotate-config", "--batch-size", "2"], obj=app)
    assert interrupted.exit_code != 0
    tokens = _sealed_in_database()
    assert sum(_opens(app, monkeypatch, t, key=NEW_KEY) for t in tokens) == 2  # the first batch stayed done
    monkeypatch.setattr(rotation, "reseal_batch", real)
    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "PREVIOUS_SECRET_KEYS", (old_key,))
    again = CliRunner().invoke(keys, ["rotate-config"], obj=app)
    assert again.exit_code == 0, again.output
    assert all(_opens(app, monkeypatch, t, key=NEW_KEY) for t in _sealed_in_database())
