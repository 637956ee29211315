"""The webhook receiver with fixture payloads of GitHub, GitLab and Gitea: signatures checked over
the raw body, pings answered, redeliveries ignored, pushes published once as ``vcs.push``."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from taiji.modules.vcs.services import external
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import system_principal

FIXTURES = Path(__file__).parent / "fixtures"
ZERO = "0" * 40


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def register(tenant, provider: str, name: str = "shop") -> dict:
    repo, answer = external.create_external(
        tenant, {"name": name, "external": {"provider": provider, "url": f"https://{provider}.example.com/acme/shop.git"}},
        actor=system_principal())
    db.session.commit()
    return {"repo": repo, "path": "/hooks/vcs/" + answer["webhook_url"].rsplit("/", 1)[1], **answer}


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(secret, body, event="push", delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958"):
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + sign(secret, body), "User-Agent": "GitHub-Hookshot/abc"}


def gitea_headers(secret, body, delivery="a8a5a4a2-3b4c-4e2f-9a0e-1234567890ab"):
    return {"X-Gitea-Event": "push", "X-Gitea-Delivery": delivery, "Content-Type": "application/json",
            "X-Gitea-Signature": sign(secret, body)}


def gitlab_headers(secret, body, delivery="0d7a3c8e-42d4-4d4b-8a27-5b8e4f0a8a11", event="Push Hook"):
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": delivery,
            "Content-Type": "application/json"}


def pushes(tenant) -> list[dict]:
    stmt = sa.select(OutboxEvent).where(OutboxEvent.name == "vcs.push", OutboxEvent.tenant_id == tenant.id)
    return [row.payload for row in db.session.execute(stmt.order_by(OutboxEvent.created_at)).scalars()]


CASES = {
    "github": ("github_push.json", github_headers),
    "gitea": ("gitea_push.json", gitea_headers),
    "gitlab": ("gitlab_push.json", gitlab_headers),
}


@pytest.mark.parametrize("provider", sorted(CASES))
def test_a_signed_push_of_each_forge_is_published_once(client, tenant, provider):
    hook = register(tenant, provider)
    name, headers = CASES[provider]
    body = fixture(name)
    response = client.post(hook["path"], data=body, headers=headers(hook["webhook_secret"], body))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["status"] == "accepted"
    [event] = pushes(tenant)
    sent = json.loads(body)
    assert event["repository"] == "shop" and event["tenant"] == tenant.slug
    assert (event["ref"], event["before"], event["after"]) == (sent["ref"], sent["before"], sent["after"])
    assert [c["id"] for c in event["commits"]] == [c["id"] for c in reversed(sent["commits"])]
    first = event["commits"][-1]
    assert first["message"] == sent["commits"][0]["message"]
    assert first["author"]["email"] == sent["commits"][0]["author"]["email"]
    assert first["timestamp"] == sent["commits"][0]["timestamp"]
    assert event["pusher"]["name"] in ("ada", "grace", "linus")


@pytest.mark.parametrize("provider", sorted(CASES))
def test_one_changed_byte_is_refused_with_401_and_nothing_is_published(client, tenant, provider):
    hook = register(tenant, provider)
    name, headers = CASES[provider]
    body = fixture(name)
    signed = headers(hook["webhook_secret"], body)
    tampered = body.replace(b"refs/heads/main", b"refs/heads/mair", 1)
    if provider == "gitlab":  # GitLab sends the secret itself: a wrong one is the failure to show
        signed["X-Gitlab-Token"] = hook["webhook_secret"][:-1] + "x"
        tampered = body
    response = client.post(hook["path"], data=tampered, headers=signed)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "signature" in response.json["detail"]
    assert pushes(tenant) == []


def test_a_missing_signature_is_401(client, tenant):
    hook = register(tenant, "github")
    body = fixture("github_push.json")
    response = client.post(hook["path"], data=body, headers={"X-GitHub-Event": "push",
                                                              "Content-Type": "application/json"})
    assert response.status_code == 401
    assert pushes(tenant) == []


def test_a_redelivery_is_acknowledged_as_duplicate_and_publishes_nothing_more(client, tenant):
    hook = register(tenant, "github")
    body = fixture("github_push.json")
    headers = github_headers(hook["webhook_secret"], body)
    assert client.post(hook["path"], data=body, headers=headers).json["status"] == "accepted"
    again = client.post(hook["path"], data=body, headers=headers)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    assert len(pushes(tenant)) == 1


def test_ping_is_answered_pong_and_publishes_nothing(client, tenant):
    hook = register(tenant, "github")
    body = fixture("github_ping.json")
    response = client.post(hook["path"], data=body,
                           headers=github_headers(hook["webhook_secret"], body, "ping"))
    assert response.status_code == 200 and response.json == {"status": "pong"}
    assert pushes(tenant) == []


def test_an_unknown_hook_is_404_problem(client, tenant):
    body = fixture("github_push.json")
    response = client.post("/hooks/vcs/no-such-hook-id-123", data=body, headers=github_headers("x", body))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_a_deleted_repository_no_longer_receives(client, tenant):
    from taiji.modules.vcs import services

    hook = register(tenant, "github")
    services.delete_repository(tenant, hook["repo"], actor=system_principal())
    db.session.commit()
    body = fixture("github_push.json")
    response = client.post(hook["path"], data=body, headers=github_headers(hook["webhook_secret"], body))
    assert response.status_code == 404


def test_a_branch_deletion_is_published_with_no_commits(client, tenant):
    hook = register(tenant, "github")
    payload = json.loads(fixture("github_push.json"))
    payload.update(after=ZERO, deleted=True, ref="refs/heads/feature/old", head_commit=None)
    body = json.dumps(payload).encode()
    response = client.post(hook["path"], data=body, headers=github_headers(hook["webhook_secret"], body))
    assert response.status_code == 200
    [event] = pushes(tenant)
    assert event["after"] == ZERO and event["commits"] == [] and event["ref"] == "refs/heads/feature/old"


def test_a_tag_push_is_published(client, tenant):
    hook = register(tenant, "gitlab")
    payload = json.loads(fixture("gitlab_push.json"))
    payload.update(object_kind="tag_push", ref="refs/tags/v1.2.0", before=ZERO, commits=[])
    body = json.dumps(payload).encode()
    response = client.post(hook["path"], data=body,
                           headers=gitlab_headers(hook["webhook_secret"], body, event="Tag Push Hook"))
    assert response.status_code == 200
    [event] = pushes(tenant)
    assert event["ref"] == "refs/tags/v1.2.0" and event["before"] == ZERO


def test_other_events_are_acknowledged_and_ignored(client, tenant):
    hook = register(tenant, "github")
    body = b'{"action": "opened", "issue": {"number": 1}}'
    response = client.post(hook["path"], data=body,
                           headers=github_headers(hook["webhook_secret"], body, "issues"))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert pushes(tenant) == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"ref": 5}',
                                  b'{"ref": "main", "before": "a", "after": "b"}'])
def test_a_signed_delivery_that_is_no_push_is_400_and_changes_nothing(client, tenant, body):
    hook = register(tenant, "github")
    response = client.post(hook["path"], data=body, headers=github_headers(hook["webhook_secret"], body))
    assert response.status_code == 400
    assert pushes(tenant) == []
    assert external.recent_deliveries(external.source_of(hook["repo"])) == []


def test_the_deliveries_are_listed_on_the_repository_page(client, tenant, admin, login):
    hook = register(tenant, "gitea")
    body = fixture("gitea_push.json")
    client.post(hook["path"], data=body, headers=gitea_headers(hook["webhook_secret"], body))
    page = login(admin).get(f"/t/{tenant.slug}/repositories/shop")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "a8a5a4a2-3b4c-4e2f-9a0e-1234567890ab" in html and "published" in html
    assert hook["webhook_url"] in html
    assert hook["webhook_secret"] not in html  # shown once, at registration only


@pytest.mark.parametrize("provider", sorted(CASES))
def test_hostile_signature_headers_are_401_not_500(client, tenant, provider):
    hook = register(tenant, provider)
    body = fixture(CASES[provider][0])
    for value in ("sha256=é" * 10, "é", "sha256=" + "0" * 64, "\x00", "x" * 5000):
        headers = {"X-GitHub-Event": "push", "X-Gitlab-Event": "Push Hook", "X-Hub-Signature-256": value,
                   "X-Gitea-Signature": value, "X-Gitlab-Token": value}
        response = client.post(hook["path"], data=body, headers=headers)
        assert response.status_code == 401, (value, response.status_code)


def test_odd_hook_addresses_are_404(client):
    for hook_id in ("x", "a" * 200, "..", "%00", "abc$def-ghijkl"):
        assert client.post(f"/hooks/vcs/{hook_id}", data=b"{}").status_code == 404


def test_a_delivery_without_a_length_is_read_to_its_end(client, tenant):
    """A chunked body reaches the app with no Content-Length (the server de-chunks it, as
    werkzeug's and gunicorn's do): the signature still covers every byte."""
    import io

    hook = register(tenant, "github")
    body = fixture("github_push.json") + b" " * 200_000  # whitespace keeps it valid JSON
    response = client.post(hook["path"], input_stream=io.BytesIO(body),
                           headers=github_headers(hook["webhook_secret"], body),
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200 and response.json["status"] == "accepted"
    too_big = b"{}" + b" " * (26 * 1024 * 1024)
    response = client.post(hook["path"], input_stream=io.BytesIO(too_big),
                           headers=github_headers(hook["webhook_secret"], too_big),
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert len(pushes(tenant)) == 1
