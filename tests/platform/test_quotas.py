"""Quotas: usage against limits, limits set by administrators, 409 when a limit is reached, and the
lock that keeps a check and the create after it one step."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from taiji.modules.tm import services
from tests.factories import database_state, make_member, make_user

KEY_7_STORAGE = 9116312588395494697  # quotas.lock_key(7, "bpr.storage_bytes")


def _ready(api):
    api.get("/api/v1/me")  # a token's first use records itself; not the change under test
    return api


def _members_quota(api, tenant):
    rows = api.get(f"/api/v1/tenants/{tenant.slug}/quotas").json
    return next(row for row in rows if row["name"] == "members")


def test_members_see_usage_against_limits(api_as, tenant):
    viewer = make_member(tenant, "viewer")
    row = _members_quota(api_as(viewer), tenant)
    assert row["used"] == 2
    assert row["limit"] == 500 and row["unit"] == "count" and row["label"]


def test_administrator_sets_and_removes_a_limit(api_as, admin, tenant):
    api = api_as(admin)
    response = api.put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 7})
    assert response.status_code == 200
    assert response.json == {**response.json, "name": "members", "used": 1, "limit": 7}
    assert _members_quota(api, tenant)["limit"] == 7
    assert (
        api.put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": None}).json["limit"] is None
    )


def test_tenant_owner_cannot_raise_own_limit(api_as, tenant):
    owner = make_member(tenant, "owner")
    response = api_as(owner).put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 10_000})
    assert response.status_code == 403
    assert _members_quota(api_as(owner), tenant)["limit"] == 500


@pytest.mark.parametrize(
    "name, body, status",
    [
        ("members", {"limit": -1}, 422),
        ("members", {"limit": "many"}, 422),
        ("members", {}, 422),
        ("members", {"limit": 2**64}, 422),
        ("no-such-quota", {"limit": 5}, 404),
    ],
)
def test_bad_limit_changes_nothing(api_as, admin, tenant, name, body, status):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.put(f"/api/v1/tenants/{tenant.slug}/quotas/{name}", json=body)
    assert response.status_code == status
    assert database_state() == before


@pytest.fixture
def full_tenant(api_as, admin, tenant):
    make_member(tenant)
    api_as(admin).put(f"/api/v1/tenants/{tenant.slug}/quotas/members", json={"limit": 2})
    return tenant


def test_invite_at_the_limit_is_409_with_what_to_do(api_as, admin, full_tenant):
    api = _ready(api_as(admin))
    before = database_state()
    response = api.post(
        f"/api/v1/tenants/{full_tenant.slug}/invitations", json={"email": "one-more@example.com"}
    )
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.json["title"] == "Quota exceeded"
    assert "2 used of 2" in response.json["detail"]
    assert "raise the limit" in response.json["detail"]
    assert database_state() == before


def test_adding_a_member_at_the_limit_is_409(api_as, admin, full_tenant):
    user = make_user()
    response = api_as(admin).post(f"/api/v1/tenants/{full_tenant.slug}/members", json={"email": user.email})
    assert response.status_code == 409
    assert "members" in response.json["detail"]
    assert services.count_members(full_tenant) == 2


def test_raising_the_limit_lets_the_next_member_in(api_as, admin, full_tenant):
    user = make_user()
    api = api_as(admin)
    api.put(f"/api/v1/tenants/{full_tenant.slug}/quotas/members", json={"limit": 3})
    assert (
        api.post(f"/api/v1/tenants/{full_tenant.slug}/members", json={"email": user.email}).status_code == 202
    )
    [waiting] = api_as(user).get("/api/v1/me/invitations").json
    assert api_as(user).post(f"/api/v1/me/invitations/{waiting['id']}/accept").status_code == 200
    assert services.count_members(full_tenant) == 3


# -- serialized checks: the lock a check holds until its transaction ends ----------------------------


def test_the_lock_key_is_the_same_in_every_process_and_release():
    import subprocess
    import sys

    from taiji.platform import quotas

    script = "from taiji.platform import quotas; print(quotas.lock_key(7, 'bpr.storage_bytes'))"
    others = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }
    assert others == {str(quotas.lock_key(7, "bpr.storage_bytes"))}
    # Pinned: during a rolling upgrade old and new processes must take the same lock.
    assert quotas.lock_key(7, "bpr.storage_bytes") == KEY_7_STORAGE


def test_the_lock_key_differs_per_tenant_and_meter_and_fits_a_bigint(app):
    from taiji.platform import quotas

    names = [m.name for m in quotas.meters()]
    assert len(names) >= 5
    keys = {quotas.lock_key(tenant_id, name) for tenant_id in range(1, 501) for name in names}
    assert len(keys) == 500 * len(names)
    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert quotas.lock_key(12, "members") != quotas.lock_key(1, "2:members")


@pytest.fixture
def other_connection(database_url):
    """A second connection to the test database, as another request would have."""
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA busy_timeout=200")
        yield conn
        conn.rollback()
    engine.dispose()


@pytest.mark.skipif(not os.environ.get("TAIJI_TEST_DATABASE_URL"), reason="advisory locks are PostgreSQL's")
def test_a_check_holds_its_meter_for_the_rest_of_the_transaction_on_postgresql(tenant, other_connection):
    from taiji.platform import quotas

    quotas.check(tenant, "members")

    def free(tenant_id, name):
        key = quotas.lock_key(tenant_id, name)
        taken = other_connection.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar_one()
        other_connection.rollback()
        return taken

    assert free(tenant.id, "members") is False
    assert free(tenant.id, "bpr.repositories") is True
    assert free(tenant.id + 10_000, "members") is True  # another tenant's members


@pytest.mark.skipif(bool(os.environ.get("TAIJI_TEST_DATABASE_URL")), reason="SQLite's writer lock")
def test_a_check_makes_its_transaction_the_writer_on_sqlite(tenant, other_connection):
    from taiji.platform import quotas

    quotas.check(tenant, "members")
    with pytest.raises(sa.exc.OperationalError, match="locked"):
        other_connection.exec_driver_sql("UPDATE kernel_quota SET name = name")

