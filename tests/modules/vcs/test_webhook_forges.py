"""What each forge really sends: pushes of several commits in the forge's own order (published
newest first, ``after`` at the head, whoever sent them) and GitHub's form-encoded deliveries."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from .fixtures import forge_payloads as forges
from .test_webhook import pushes, register

CASES = {
    # name: (provider registered in Taiji, payload, headers of)
    "github": ("github", forges.github, "github"),
    "gitlab": ("gitlab", forges.gitlab, "gitlab"),
    "gitlab-13": ("gitlab", lambda: forges.gitlab(newest_first=False), "gitlab"),
    "gitea": ("gitea", forges.gitea, "gitea"),
    "forgejo": ("gitea", forges.forgejo, "forgejo"),
    "forgejo-as-git": ("git", forges.forgejo, "forgejo"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_push_of_several_commits_is_published_newest_first_from_every_forge(client, tenant, case):
    provider, payload, sender = CASES[case]
    hook = register(tenant, provider)
    body = json.dumps(payload()).encode()
    sent = forges.headers(sender, hook["webhook_secret"], body)
    response = client.post(hook["path"], data=body, headers=sent)
    assert response.status_code == 200, response.get_data(as_text=True)
    [event] = pushes(tenant)
    assert event["after"] == forges.AFTER
    assert [c["id"] for c in event["commits"]] == forges.NEWEST_FIRST
    assert event["commits"][0]["message"] == "Checkout\n"


def test_forgejo_headers_alone_are_understood(client, tenant):
    hook = register(tenant, "gitea")
    body = json.dumps(forges.forgejo()).encode()
    sent = {k: v for k, v in forges.headers("forgejo", hook["webhook_secret"], body).items()
            if "Gitea" not in k}
    response = client.post(hook["path"], data=body, headers=sent)
    assert response.status_code == 200 and response.json["status"] == "accepted"
    [event] = pushes(tenant)
    assert [c["id"] for c in event["commits"]] == forges.NEWEST_FIRST


@pytest.mark.parametrize("newest_first", [True, False])
def test_when_after_is_not_listed_the_timestamps_decide(client, tenant, newest_first):
    hook = register(tenant, "gitlab")
    payload = forges.gitlab(newest_first=newest_first)
    payload["after"] = payload["checkout_sha"] = "e" * 40  # a list cut short: the head is not in it
    body = json.dumps(payload).encode()
    sent = forges.headers("gitlab", hook["webhook_secret"], body)
    response = client.post(hook["path"], data=body, headers=sent)
    assert response.status_code == 200
    [event] = pushes(tenant)
    assert [c["id"] for c in event["commits"]] == forges.NEWEST_FIRST


def _form(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def form_headers(secret: str, body: bytes, event: str, delivery: str) -> dict:
    return {**forges.headers("github", secret, body, event=event, delivery=delivery),
            "Content-Type": "application/x-www-form-urlencoded"}


def test_a_github_webhook_sending_forms_gets_its_ping_and_its_pushes_through(client, tenant):
    hook = register(tenant, "github")
    ping = _form({"zen": "Keep it logically awesome.", "hook_id": 42,
                  "hook": {"type": "Repository", "config": {"content_type": "form"}}})
    sent = form_headers(hook["webhook_secret"], ping, "ping", "p-1")
    answer = client.post(hook["path"], data=ping, headers=sent)
    assert answer.status_code == 200 and answer.json == {"status": "pong"}

    payload = forges.github()
    payload["commits"][0]["message"] = "Panier & caisse: 100% «prêt» +1\n"  # what a form must escape
    body = _form(payload)
    assert b"payload=%7B" in body
    sent = form_headers(hook["webhook_secret"], body, "push", "f-1")
    answer = client.post(hook["path"], data=body, headers=sent)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["status"] == "accepted"
    [event] = pushes(tenant)
    assert event["after"] == forges.AFTER and [c["id"] for c in event["commits"]] == forges.NEWEST_FIRST
    assert event["commits"][-1]["message"] == "Panier & caisse: 100% «prêt» +1\n"


def test_a_form_is_checked_over_its_raw_bytes_and_a_bad_one_is_400(client, tenant):
    hook = register(tenant, "github")
    body = _form(forges.github())
    signed = form_headers(hook["webhook_secret"], body, "push", "f-2")
    # The same JSON re-encoded differently is other bytes: the signature no longer matches.
    reencoded = body.replace(b"%3A", b"%3a", 1)
    assert reencoded != body
    assert client.post(hook["path"], data=reencoded, headers=signed).status_code == 401
    for bad in (b"payload=not-json", b"other=1", b"payload=%7B%7D&payload=%7B%7D", b"payload=%FF%FE",
                b"\xff=1"):
        response = client.post(hook["path"], data=bad,
                               headers=form_headers(hook["webhook_secret"], bad, "push", "f-3"))
        assert response.status_code == 400, (bad, response.status_code)
        assert response.mimetype == "application/problem+json"
    assert pushes(tenant) == []
