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
    # Its public past went with it: the key was secret once, so none of its values before then shows.
    assert [(h["old"], h["new"], h["secret"]) for h in rows] == [
        (None, None, True), (None, None, True), (None, None, True)]
    stored = _everything_stored()
    assert SECRET not in stored and "was-public" not in stored


def test_a_key_made_secret_takes_its_public_past_out_of_history_releases_and_diffs(
        api, dev, base, tenant, login, member):
    """Its earlier values are sealed at rest: the history loses them, the releases holding them in
    clear get them sealed (their clients still receive them), and no answer shows them."""
    earlier = ("first-Pl41n-2c8e", "second-Pl41n-9d1a")
    for value in earlier:
        assert api.put(f"{dev}/items/token", json={"value": value}).status_code == 200
        assert api.put(f"{dev}/items/shared", json={"value": value, "layer": "product"}).status_code == 200
        assert api.post(f"{dev}/releases", json={"comment": "next"}).status_code == 201
    assert api.put(f"{base}/web/dev/items/shared", json={"value": "web-own"}).status_code == 200
    assert api.post(f"{base}/web/dev/releases", json={}).status_code == 201
    for layer in ("environment", "product"):
        key = "token" if layer == "environment" else "shared"
        made = api.put(f"{dev}/items/{key}", json={"value": SECRET, "secret": True, "layer": layer})
        assert made.status_code == 200, made.json

    answers = [api.get(dev + path) for path in (
        "/history", "/releases", "/releases/1", "/releases/2", "/diff", "/draft", "/export?format=json",
        "/export?format=json&layer=product")]
    answers += [api.get(f"{base}/web/dev/{path}") for path in ("history", "releases/1", "diff")]
    answers.append(login(member).get(f"/t/{tenant.slug}/config/api/dev/history"))
    for answer in answers:
        assert answer.status_code == 200, answer.request.path
        text = answer.get_data(as_text=True)
        assert not any(value in text for value in earlier), answer.request.path
    history = api.get(f"{dev}/history").json
    assert {(h["key"], h["old"], h["new"], h["secret"]) for h in history if h.get("key")} == {
        ("token", None, None, True), ("shared", None, None, True)}
    snapshot = {i["key"]: i for i in api.get(f"{dev}/releases/2").json["items"]}
    assert snapshot["token"]["secret"] and snapshot["token"]["value"] is None
    assert snapshot["shared"]["secret"] and snapshot["shared"]["value"] is None
    stored = _everything_stored()
    assert not any(value in stored for value in earlier)
    assert "web-own" in stored  # another component's own key of that name is not the product's

    # Clients of those releases get what they got before: rolling back restores the old values.
    assert api.post(f"{dev}/releases/1/rollback", json={}).status_code == 201
    assert scm.config_for(tenant, "api", "dev").merged()["token"] == earlier[0]
    assert scm.config_for(tenant, "api", "dev").merged()["shared"] == earlier[0]
    assert [c.key for c in scm.diff(tenant, "api", "dev") if c.secret] == ["shared", "token"]


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
