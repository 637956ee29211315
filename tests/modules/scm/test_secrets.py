"""Secret values: sealed at rest (absent from every table, whatever the layer or release), masked
in every API answer, revealed only with scm:secret:read and audited, re-sealed by key rotation."""

from __future__ import annotations

import logging

import pytest

from taiji.modules.scm import services as scm
from taiji.platform import audit
from tests.factories import database_state

SECRET = "pa55-Wörd-7f3c9e1b"


@pytest.fixture
def api(api_as, member):
    return api_as(member)


@pytest.fixture
def dev(base, shop):
    return f"{base}/api/dev"


def _everything_stored() -> str:
    """Every row of every table (scm's, the audit log, the event outbox, …) as text."""
    return repr(database_state())


def test_a_secret_is_nowhere_in_the_database_and_masked_in_every_answer(api, dev, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    answers = []
    for layer in ("tenant", "product", "component", "environment"):
        answers.append(api.put(f"{dev}/items/password-{layer}", json={
            "value": SECRET, "secret": True, "layer": layer, "description": "db"}))
    answers.append(api.put(f"{dev}/items/json-secret", json={"value": {"token": SECRET}, "type": "json",
                                                              "secret": True}))
    answers.append(api.put(f"{dev}/items/labelled", json={"value": SECRET, "secret": True, "layer": "label",
                                                           "label": "zone=bj"}))
    assert all(a.status_code == 200 for a in answers), [a.json for a in answers]
    assert all(a.json["value"] is None and a.json["masked"] for a in answers)
    answers.append(api.post(f"{dev}/releases", json={"comment": "with secrets"}))
    assert answers[-1].status_code == 201
    answers.append(api.put(f"{dev}/items/password-environment", json={"value": SECRET + "2", "secret": True}))
    for path in ("/draft", "/draft?labels=zone=bj", "/diff", "/releases", "/releases/1", "/history",
                 "/export?format=json", "/export?format=yaml&layer=tenant"):
        answers.append(api.get(dev + path))
        assert answers[-1].status_code == 200, (path, answers[-1].json)
    for answer in answers:
        assert SECRET not in answer.get_data(as_text=True)
    draft = {i["key"]: i for i in answers[-8].json["items"]}
    assert draft["password-environment"] == {**draft["password-environment"], "value": None, "masked": True,
                                             "secret": True}
    stored = _everything_stored()
    assert SECRET not in stored
    assert SECRET not in caplog.text
    # The consumers do get it.
    assert scm.config_for(tenant, "api", "dev").merged()["password-environment"] == SECRET


def test_reveal_needs_its_permission_and_is_audited(api_as, api, dev, tenant, admin):
    api.put(f"{dev}/items/password", json={"value": SECRET, "secret": True})
    assert api.get(f"{dev}/items/password/secret").status_code == 403  # members do not hold scm:secret:read
    owner = api_as(admin)
    revealed = owner.get(f"{dev}/items/password/secret")
    assert revealed.status_code == 200 and revealed.json == {"key": "password", "value": SECRET}
    entries = audit.query(tenant=tenant, action="scm.secret.revealed").items
    assert [(e.actor_email, e.target) for e in entries] == [
        (admin.email, "shop/api@dev/application/password")]
    assert SECRET not in repr(entries[0].details)
    assert owner.get(f"{dev}/items/nothing/secret").status_code == 404
    assert owner.get(f"{dev}/items/password/secret?layer=component").status_code == 404


def test_turning_a_value_into_a_secret_seals_it_and_history_never_shows_either(api, dev):
    api.put(f"{dev}/items/token", json={"value": "was-public"})
    api.put(f"{dev}/items/token", json={"value": SECRET, "secret": True})
    api.put(f"{dev}/items/token", json={"value": "public-again"})
    rows = api.get(f"{dev}/history").json
    assert [(h["old"], h["new"], h["secret"]) for h in rows] == [
        (None, None, True), (None, None, True), (None, "was-public", False)]
    assert SECRET not in _everything_stored()


def test_rotation_reseals_every_secret_under_the_new_key(app, api, dev, tenant):
    api.put(f"{dev}/items/password", json={"value": SECRET, "secret": True})
    api.post(f"{dev}/releases", json={})
    before = {row[0] for row in _sealed()}
    old_key = app.config["SECRET_KEY"]
    previous = app.config.get("PREVIOUS_SECRET_KEYS", ())
    app.config["SECRET_KEY"], app.config["PREVIOUS_SECRET_KEYS"] = "a-brand-new-key-" * 4, (old_key,)
    try:
        assert scm.rotate_keys() == 2  # the item and the release's snapshot
        after = {row[0] for row in _sealed()}
        assert after and not after & before
        app.config["PREVIOUS_SECRET_KEYS"] = ()  # the old key is gone: everything still opens
        assert scm.config_for(tenant, "api", "dev").merged()["password"] == SECRET
        assert scm.reveal_secret(tenant, None, "api", "dev", "password") == SECRET
    finally:
        app.config["SECRET_KEY"], app.config["PREVIOUS_SECRET_KEYS"] = old_key, previous


def _sealed():
    import sqlalchemy as sa

    from taiji.modules.scm.models import Item, Release
    from taiji.platform.db import db

    sealed = sa.select(Item.sealed).where(Item.sealed.is_not(None))
    rows = [(s,) for s in db.session.execute(sealed).scalars()]
    for snapshot in db.session.execute(sa.select(Release.snapshot)).scalars():
        rows.extend((e["sealed"],) for e in snapshot if e.get("sealed"))
    return rows
