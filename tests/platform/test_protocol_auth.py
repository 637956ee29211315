"""The kernel's gate for protocol endpoints (taiji/platform/protocol_auth.py), called directly as a
new protocol (a registry, a config server) would call it: git's and the package index's own tests
and the route walks cover it through their routes."""

from __future__ import annotations

import base64

import pytest
from flask import g

from taiji.platform import protocol_auth
from taiji.platform.db import db
from taiji.platform.tenancy import TenantStatus
from tests.factories import make_member, make_tenant, make_token, make_user

PROTOCOL = protocol_auth.Protocol(realm="registry", scheme="Bearer", not_found="No '%(tenant_slug)s' here.")


def _authorize(app, headers=None, path="/v2/x", view_args=None, **kwargs):
    g.__dict__.clear()
    with app.test_request_context(path, headers=headers or {}):
        from flask import request

        request.view_args = view_args or {}
        return protocol_auth.authorize(PROTOCOL, "tm:member:read", **kwargs)


def _refusal(app, **kwargs) -> protocol_auth.Refusal:
    with pytest.raises(protocol_auth.Refusal) as caught:
        _authorize(app, **kwargs)
    return caught.value


@pytest.fixture
def setting(app):
    owner = make_user()
    tenant = make_tenant(owner=owner)
    viewer = make_member(tenant, "viewer")
    outsider = make_user()
    make_tenant(owner=outsider)
    return {"tenant": tenant, "owner": owner, "viewer": viewer, "outsider": outsider}


def test_a_token_as_bearer_or_basic_password_is_the_caller(app, setting):
    token = make_token(setting["viewer"])
    basic = base64.b64encode(f"anything:{token}".encode()).decode()
    for header in (f"Bearer {token}", f"Basic {basic}"):
        granted = _authorize(app, headers={"Authorization": header}, tenant=setting["tenant"], writing=False)
        assert granted.principal.user_id == setting["viewer"].id
        assert granted.tenant == granted.resource == setting["tenant"]
        assert granted.roles == ("viewer",) and not granted.public_read


def test_the_tenant_comes_from_the_url_when_not_given(app, setting):
    token = make_token(setting["owner"])
    slug = setting["tenant"].slug
    granted = _authorize(app, headers={"Authorization": f"Bearer {token}"},
                         view_args={"tenant_slug": slug}, writing=False)
    assert granted.tenant.id == setting["tenant"].id


def test_refusals_challenge_in_the_protocols_scheme_and_hide_other_tenants(app, setting):
    tenant = setting["tenant"]
    anonymous = _refusal(app, tenant=tenant, writing=False)
    assert anonymous.status == 401 and anonymous.headers == {"WWW-Authenticate": 'Bearer realm="registry"'}
    unknown = _refusal(app, view_args={"tenant_slug": "no-such-tenant"}, writing=False)
    assert (unknown.status, unknown.detail) == (anonymous.status, anonymous.detail)  # nothing told
    wrong = _refusal(app, headers={"Authorization": "Bearer tj_pat_wrong"}, tenant=tenant, writing=False)
    assert wrong.status == 401 and wrong.headers
    outsider = make_token(setting["outsider"])
    hidden = _refusal(app, headers={"Authorization": f"Bearer {outsider}"},
                      view_args={"tenant_slug": tenant.slug}, writing=False)
    assert hidden.status == 404 and hidden.detail == f"No '{tenant.slug}' here." and not hidden.headers
    scoped = make_token(setting["owner"], scopes=["tm:tenant:read"])
    lacking = _refusal(app, headers={"Authorization": f"Bearer {scoped}"}, tenant=tenant, writing=False)
    assert lacking.status == 403 and "tm:member:read" in lacking.detail


def test_public_resources_are_read_by_anyone_never_written_and_not_while_suspended(app, setting):
    tenant = setting["tenant"]
    granted = _authorize(app, tenant=tenant, writing=False, is_public=lambda resource: True)
    assert granted.principal is None and granted.public_read
    assert _refusal(app, tenant=tenant, writing=True, is_public=lambda resource: True).status == 401
    outsider = make_token(setting["outsider"])
    assert _refusal(app, headers={"Authorization": f"Bearer {outsider}"}, tenant=tenant, writing=True,
                    is_public=lambda resource: True).status == 404
    tenant.status = TenantStatus.SUSPENDED
    db.session.commit()
    assert _refusal(app, tenant=tenant, writing=False, is_public=lambda resource: True).status == 401
    viewer = make_token(setting["viewer"])
    suspended = _refusal(app, headers={"Authorization": f"Bearer {viewer}"}, tenant=tenant, writing=False)
    assert suspended.status == 403 and "suspended" in suspended.detail


def test_a_missing_resource_is_404_to_members(app, setting):
    token = make_token(setting["owner"])
    missing = _refusal(app, headers={"Authorization": f"Bearer {token}"}, tenant=setting["tenant"],
                       writing=False, find=lambda tenant: None)
    assert missing.status == 404 and missing.detail == "No '%(tenant_slug)s' here."  # no such URL argument
