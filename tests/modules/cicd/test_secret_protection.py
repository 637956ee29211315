"""CI secrets against a member who wants their values. Values never come back from the API; names
are for those who manage secrets; and the real way out — pushing a branch whose job prints the
secret (base64 defeats the log's masking), or running the protected branch by hand with variables
that steer its jobs — is closed: a protected secret reaches only jobs of a protected branch, run by
a push, a schedule or someone who may push there. Jobs run for real (the built-in runner)."""

from __future__ import annotations

import base64

from taiji.modules.cicd import services
from taiji.modules.cicd.events import on_vcs_push
from taiji.platform import events
from taiji.platform.db import db
from tests.factories import make_member, make_token
from tests.modules.cicd.conftest import make_hosted

VALUE = "prod-deploy-token-5f1e2d3c4b"
ENCODED = base64.b64encode(VALUE.encode()).decode()

RELEASE_FILE = """
jobs:
  deploy:
    secrets: [DEPLOY_TOKEN]
    env: {TARGET: https://deploy.invalid}
    script:
      - test "$DEPLOY_TOKEN" = prod-deploy-token-5f1e2d3c4b
      - echo "would deploy to $TARGET"
"""
STEAL_FILE = """
jobs:
  steal:
    secrets: [DEPLOY_TOKEN]
    script: ['printf %s "$DEPLOY_TOKEN" | base64']
"""


def _people(ci):
    """The tenant's owner and a member and a viewer, each with an API token."""
    from taiji.modules.iam import services as iam

    with ci.ctx():
        tenant = ci.tenant()
        tokens = {"owner": make_token(iam.get_user_by_email(ci.owner_email))}
        for role in ("member", "viewer", "admin"):
            tokens[role] = make_token(make_member(tenant, role))
        db.session.remove()
    return {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}


def _protected_repo(ci) -> str:
    """A repository whose main only owners and admins may push, with a deploy job using the secret."""
    from taiji.modules.vcs import services as vcs

    repo = ci.repo({".taiji.yml": RELEASE_FILE})
    with ci.ctx():
        vcs.protect(ci.tenant(), vcs.get_repository(ci.tenant(), repo),
                    {"pattern": "main", "push_roles": ["owner", "admin"]})
        db.session.commit()
        db.session.remove()
    return repo


def _run(ci, headers, repo, ref, variables=None) -> int:
    response = ci.app.test_client().post(
        f"/api/v1/tenants/{ci.tenant_slug}/repositories/{repo}/pipelines",
        json={"ref": ref, "variables": variables or {}}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def _log(ci, headers, job_id) -> str:
    url = f"/api/v1/tenants/{ci.tenant_slug}/jobs/{job_id}/log"
    response = ci.app.test_client().get(url, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_member_cannot_make_a_job_print_a_protected_secret(ci):
    people = _people(ci)
    ci.call(services.set_secret, "DEPLOY_TOKEN", VALUE)
    repo = _protected_repo(ci)
    with ci.ctx():
        make_hosted(ci.tenant(), repo, {".taiji.yml": STEAL_FILE}, branch="steal")
        db.session.remove()
    # The member runs their own branch, by hand through the API...
    stolen = ci.drive(_run(ci, people["member"], repo, "steal"))
    log = _log(ci, people["member"], stolen["jobs"]["steal"]["id"])
    assert ENCODED not in log and VALUE not in log
    assert stolen["status"] == "failed" and "secret(s) DEPLOY_TOKEN are protected" in log
    # ... and as a push would (the event CI receives for it).
    with ci.ctx():
        tenant = ci.tenant()
        from taiji.modules.vcs import services as vcs

        sha = vcs.resolve_ref(vcs.get_repository(tenant, repo), "refs/heads/steal")
        row = events.publish("vcs.push", {
            "tenant": tenant.slug, "repository": repo, "ref": "refs/heads/steal", "before": "0" * 40,
            "after": sha, "pusher": {"id": 1, "email": "member@example.com"}, "commits": []})
        db.session.commit()
        events.deliver(str(row.id), events.handler_name(on_vcs_push))
        db.session.commit()
        pushed = services.list_pipelines(tenant, repository=repo, ref="refs/heads/steal").items[0].id
        db.session.remove()
    pushed_log = _log(ci, people["member"], ci.drive(pushed)["jobs"]["steal"]["id"])
    assert ENCODED not in pushed_log and "are protected" in pushed_log
    # Running the protected branch by hand with variables that steer its job: not with the secret.
    steered = ci.drive(_run(ci, people["member"], repo, "main", {"TARGET": "https://attacker.invalid"}))
    assert steered["status"] == "failed"
    assert "are protected" in _log(ci, people["member"], steered["jobs"]["deploy"]["id"])


def test_jobs_of_the_protected_branch_still_receive_the_value(ci):
    people = _people(ci)
    ci.call(services.set_secret, "DEPLOY_TOKEN", VALUE)
    repo = _protected_repo(ci)
    released = ci.drive(_run(ci, people["admin"], repo, "main"))
    log = _log(ci, people["admin"], released["jobs"]["deploy"]["id"])
    assert released["status"] == "success", log
    assert "would deploy to https://deploy.invalid" in log and VALUE not in log
    api = ci.app.test_client()
    pipeline = api.get(f"/api/v1/tenants/{ci.tenant_slug}/pipelines/{released['id']}",
                       headers=people["member"]).json
    assert pipeline["protected"] is True


def test_an_unprotected_secret_reaches_every_branch(ci):
    people = _people(ci)
    url = f"/api/v1/tenants/{ci.tenant_slug}/cicd/secrets"
    api = ci.app.test_client()
    made = api.post(url, json={"name": "DEPLOY_TOKEN", "value": VALUE, "protected": False},
                    headers=people["owner"])
    assert made.status_code == 201 and made.json["protected"] is False
    assert VALUE not in made.get_data(as_text=True)
    # Replacing the value without saying keeps the choice.
    assert api.post(url, json={"name": "DEPLOY_TOKEN", "value": VALUE}, headers=people["owner"]).json[
        "protected"] is False
    repo = ci.repo({".taiji.yml": RELEASE_FILE})
    state = ci.drive(_run(ci, people["member"], repo, "main"))
    assert state["status"] == "success", _log(ci, people["member"], state["jobs"]["deploy"]["id"])


def test_only_those_who_manage_secrets_see_their_names_and_nobody_their_values(ci):
    people = _people(ci)
    url = f"/api/v1/tenants/{ci.tenant_slug}/cicd/secrets"
    api = ci.app.test_client()
    created = api.post(url, json={"name": "DEPLOY_TOKEN", "value": VALUE}, headers=people["admin"])
    assert created.status_code == 201
    for role in ("member", "viewer"):
        refused = api.get(url, headers=people[role])
        assert refused.status_code == 403 and "DEPLOY_TOKEN" not in refused.get_data(as_text=True)
        assert api.post(url, json={"name": "X", "value": "y"}, headers=people[role]).status_code == 403
    assert created.json["protected"] is True and VALUE not in created.get_data(as_text=True)
    listed = api.get(url, headers=people["admin"])
    assert [(s["name"], s["protected"], s["updated_by"] is not None) for s in listed.json] == [
        ("DEPLOY_TOKEN", True, True)]
    assert VALUE not in listed.get_data(as_text=True)
    assert "value" not in listed.json[0]
