"""URL arguments of TM routes for the tenant-isolation walk: a member, a pending invitation and a
quota override of the tenant. Named by TM's ``Module(seeders=...)``; tests/factories.py imports it."""

from __future__ import annotations

from tests.factories import ISOLATION_SEEDERS, make_invitation, make_member


def _tm_seed_member(tenant, owner, known):
    return make_member(tenant, "member").id


def _tm_seed_invitation(tenant, owner, known):
    return make_invitation(tenant)[0].id


def _tm_seed_quota(tenant, owner, known):
    from taiji.modules.tm import services as tm

    tm.set_quota(tenant, tm.MEMBERS_METER, 50)
    return tm.MEMBERS_METER  # a quota's name is the same in every tenant


ISOLATION_SEEDERS["user_id"] = _tm_seed_member
ISOLATION_SEEDERS["invitation_id"] = _tm_seed_invitation
ISOLATION_SEEDERS["name"] = _tm_seed_quota
