"""A taken repository name is a conflict (issue 12, finding 24): 409 with the field named, as a
taken tenant slug or package repository name is, and as docs/api.md promises; nothing changes."""

from __future__ import annotations

from tests.factories import database_state


def test_a_taken_repository_name_is_409_and_changes_nothing(api_as, admin, tenant):
    api = api_as(admin)
    url = f"/api/v1/tenants/{tenant.slug}/repositories"
    assert api.post(url, json={"name": "shop"}).status_code == 201
    before = database_state()
    again = api.post(url, json={"name": "shop", "description": "a second one"})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert again.json["errors"] == {"json": {"name": ["Already taken."]}}
    assert "already has a repository 'shop'" in again.json["detail"]
    assert database_state() == before


def test_the_console_shows_the_taken_name_on_the_form(login, admin, tenant):
    console = login(admin)
    url = f"/t/{tenant.slug}/repositories"
    assert console.post(url, data={"name": "shop", "provider": ""}).status_code == 302
    again = console.post(url, data={"name": "shop", "provider": ""})
    assert again.status_code == 422 and "Already taken." in again.get_data(as_text=True)
