"""The CI secrets page: names only, set, replace, delete; values never come back."""

from __future__ import annotations

import re

from taiji.modules.cicd import services
from tests.factories import make_member


def test_set_replace_and_delete_a_secret(login, admin, tenant):
    client = login(admin)
    empty = client.get(f"/t/{tenant.slug}/pipelines/secrets").get_data(as_text=True)
    assert "No secrets yet" in empty
    response = client.post(f"/t/{tenant.slug}/pipelines/secrets",
                           data={"name": "DEPLOY_TOKEN", "value": "s3cr3t-value-1"})
    assert response.status_code == 302
    html = client.get(f"/t/{tenant.slug}/pipelines/secrets").get_data(as_text=True)
    assert 'data-name="DEPLOY_TOKEN"' in html
    assert "s3cr3t-value-1" not in html
    secrets_url = f"/t/{tenant.slug}/pipelines/secrets"
    client.post(secrets_url, data={"name": "DEPLOY_TOKEN", "value": "s3cr3t-value-2"})
    assert services.list_secrets(tenant).total == 1
    response = client.post(f"/t/{tenant.slug}/pipelines/secrets/delete", data={"name": "DEPLOY_TOKEN"})
    assert response.status_code == 302
    assert services.list_secrets(tenant).total == 0


def test_bad_name_is_refused_with_a_message(login, admin, tenant):
    client = login(admin)
    response = client.post(f"/t/{tenant.slug}/pipelines/secrets", data={"name": "1 bad", "value": "x"})
    assert response.status_code == 422
    assert "Letters, digits and _" in response.get_data(as_text=True)
    assert services.list_secrets(tenant).total == 0


def test_deleting_a_missing_secret_says_so(login, admin, tenant):
    html = login(admin).post(f"/t/{tenant.slug}/pipelines/secrets/delete", data={"name": "NOPE"},
                             follow_redirects=True).get_data(as_text=True)
    assert "Refused" in html and "NOPE" in html


def test_members_without_the_permission_are_refused(client, login, tenant):
    login(make_member(tenant, "member"))
    assert client.get(f"/t/{tenant.slug}/pipelines/secrets").status_code == 403
    response = client.post(f"/t/{tenant.slug}/pipelines/secrets", data={"name": "X", "value": "y"})
    assert response.status_code == 403
    assert services.list_secrets(tenant).total == 0


def test_a_secret_is_protected_unless_the_box_is_cleared(login, admin, tenant):
    client = login(admin)
    page = client.get(f"/t/{tenant.slug}/pipelines/secrets").get_data(as_text=True)
    [box] = re.findall(r'<input[^>]*name="protected"[^>]*>', page)
    assert " checked" in box
    url = f"/t/{tenant.slug}/pipelines/secrets"
    client.post(url, data={"name": "SHARED", "value": "v1"})
    client.post(url, data={"name": "RELEASE", "value": "v2", "protected": "y"})
    protection = {s.name: s.protected for s in services.list_secrets(tenant).items}
    assert protection == {"RELEASE": True, "SHARED": False}
    html = client.get(f"/t/{tenant.slug}/pipelines/secrets").get_data(as_text=True)
    assert "every branch" in html and "protected" in html
