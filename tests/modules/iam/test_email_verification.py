"""An email address stays verified only for the address that was proven, and the pages and API
that tell an account it must verify speak both languages and never answer 500."""

from __future__ import annotations

import pytest

from taiji.modules.iam import verification
from taiji.modules.iam.sessions import links
from taiji.platform.db import db
from taiji.platform.errors import NotFound
from tests.factories import make_invitation, make_user


def test_changing_the_email_clears_the_verified_flag(app):
    user = make_user()
    assert user.email_verified_at is not None
    user.email = "someone-else@example.com"
    db.session.flush()
    assert user.email_verified_at is None


def test_a_link_mailed_to_an_old_address_does_not_verify_the_new_one(app):
    user = make_user(email_verified=False)
    token = links.issue(user, links.VERIFY_EMAIL, verification.TTL)
    user.email = "moved@example.com"
    db.session.flush()
    with pytest.raises(NotFound):
        verification.confirm(token, user)
    assert user.email_verified_at is None


def test_a_sign_in_link_does_not_verify_an_address(app):
    user = make_user(email_verified=False)
    token = links.issue(user, links.SIGN_IN, links.TTL)
    with pytest.raises(NotFound):
        verification.confirm(token, user)
    assert user.email_verified_at is None


def test_registering_through_a_link_the_inviter_was_handed_does_not_verify(client, tenant):
    invitation, token = make_invitation(tenant, "handed@example.com")
    assert invitation.delivery == "link" and token
    response = client.post(f"/invitations/{token}", data={"name": "Handed", "password": "a-fine-Passw0rd"})
    assert response.status_code == 302
    from taiji.modules.iam import services as iam

    assert iam.get_user_by_email("handed@example.com").email_verified_at is None


@pytest.mark.parametrize("path", ["/profile/email/verify/nonsense", "/profile/email/verify/%00a",
                                  "/profile/email/verify/" + "x" * 5000])
def test_bad_links_are_a_clear_404(login, client, path):
    login(make_user(email_verified=False))
    for method in ("GET", "POST"):
        response = client.open(path, method=method)
        assert response.status_code == 404 and 'data-testid="verify-email-invalid"' in response.text


def test_the_verification_pages_in_chinese(login, client, tenant):
    user = make_user(email_verified=False)
    make_invitation(tenant, user.email)
    login(user)
    client.post("/locale", data={"locale": "zh_Hans"})
    page = client.get("/invitations").text
    assert "验证你的邮箱后才能接受" in page and "平台管理员" in page
    assert "未验证" in client.get("/profile").text


def test_the_api_documents_verification(client):
    spec = client.get("/api/v1/openapi.json").json
    assert "post" in spec["paths"]["/api/v1/me/email/verification"]
    assert "post" in spec["paths"]["/api/v1/users/{user_id}/email/verify"]
    schemas = spec["components"]["schemas"]
    assert "email_verified" in schemas["MeOut"]["properties"]
    assert "email_verified_at" in schemas["UserOut"]["properties"]
    assert "delivery" in schemas["InvitationCreatedOut"]["properties"]
    assert "can_accept" in schemas["MyInvitationOut"]["properties"]
