"""A tenant route's view receives the ``Tenant`` itself, resolved once by the kernel after the
membership check; a caller who may not open the tenant never reaches the view, and learns nothing
about whether the tenant exists (an unknown tenant and a non-member's tenant answer the same)."""

from __future__ import annotations

import pytest
from flask import url_for

from taiji.platform.tenancy import Tenant
from tests.factories import make_member, make_tenant, make_token, make_user


@pytest.fixture
def spy(app, monkeypatch):
    """``spy(endpoint)`` -> the list of ``tenant`` arguments the endpoint's view was called with."""

    def install(endpoint):
        seen = []
        original = app.view_functions[endpoint]

        def view(*args, **kwargs):
            seen.append(kwargs.get("tenant"))
            return original(*args, **kwargs)

        monkeypatch.setitem(app.view_functions, endpoint, view)
        return seen

    return install


def test_a_console_view_gets_the_tenant_object(client, login, tenant, spy):
    seen = spy("tm.members")
    login(make_member(tenant, "member"))
    response = client.get(f"/t/{tenant.slug}/members")
    assert response.status_code == 200
    assert len(seen) == 1 and isinstance(seen[0], Tenant) and seen[0].id == tenant.id


def test_an_api_view_gets_the_tenant_object(client, tenant, spy):
    seen = spy("spm_api.Products")
    member = make_member(tenant, "member")
    response = client.get(f"/api/v1/tenants/{tenant.slug}/products",
                          headers={"Authorization": f"Bearer {make_token(member)}"})
    assert response.status_code == 200
    assert len(seen) == 1 and isinstance(seen[0], Tenant) and seen[0].slug == tenant.slug


def test_urls_build_from_the_tenant_object_as_from_its_slug(app, tenant):
    with app.test_request_context():
        assert url_for("tm.members", tenant=tenant) == url_for("tm.members", tenant=tenant.slug)
        assert url_for("tm.members", tenant=tenant) == f"/t/{tenant.slug}/members"


def _without_request_id(response) -> tuple[int, str]:
    return response.status_code, response.get_data(as_text=True).replace(response.headers["X-Request-ID"], "")


@pytest.mark.parametrize("path", ["/t/{slug}/members", "/api/v1/tenants/{slug}/products"])
def test_a_non_member_never_reaches_the_view_and_cannot_tell_the_tenant_exists(client, login, spy, path):
    secret = make_tenant(owner=make_user(), name="Secret Holdings")
    outsider = make_user()
    seen = [*spy("tm.members"), *spy("spm_api.Products")]
    headers = {"Authorization": f"Bearer {make_token(outsider)}"} if path.startswith("/api/") else {}
    if not headers:
        login(outsider)

    existing = client.get(path.format(slug=secret.slug), headers=headers)
    unknown = client.get(path.format(slug="no-such-tenant-here"), headers=headers)

    assert existing.status_code == 404
    assert seen == []
    assert "Secret Holdings" not in existing.get_data(as_text=True)
    # Same answer for a tenant that exists and one that does not, apart from the names in the URL.
    assert (_without_request_id(existing)[0], _without_request_id(existing)[1].replace(secret.slug, "X")) == (
        _without_request_id(unknown)[0], _without_request_id(unknown)[1].replace("no-such-tenant-here", "X"))


def test_a_tenant_requiring_mfa_is_a_404_to_a_non_member_not_a_trip_to_enrolment(client, login):
    """The IAM hook that sends members without MFA to enrolment runs before the kernel's membership
    check; it must not resolve the tenant for a caller who is not a member (that told them it exists)."""
    from taiji.modules.tm import services as tm

    secret = make_tenant(owner=make_user())
    tm.set_mfa_required(secret, True)
    login(make_user())
    response = client.get(f"/t/{secret.slug}/")
    assert response.status_code == 404
    assert client.get("/t/no-such-tenant-here/").status_code == 404
