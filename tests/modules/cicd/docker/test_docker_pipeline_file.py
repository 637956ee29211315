"""`image:` and `services:` in `.taiji.yml`: what is accepted, and bad input refused with its line."""

from __future__ import annotations

import pytest

from taiji.modules.cicd import pipeline_file as pf


def test_images_and_services_in_both_forms_are_read():
    result = pf.parse("""
default: {image: {name: 'registry.example:5000/team/py:3', credentials: REGISTRY_LOGIN}}
jobs:
  t:
    services:
      - redis:7
      - {name: 'bitnami/postgresql:16', alias: db, variables: {A: 1}, env: {B: x},
         command: 'postgres -c fsync=off'}
    script: [echo hi]
""")
    assert result.ok, result.message
    job = result.config["jobs"]["t"]
    assert job["image"] == {"name": "registry.example:5000/team/py:3", "credentials": "REGISTRY_LOGIN"}
    assert job["services"] == [
        {"image": "redis:7", "credentials": None, "alias": None, "env": {}, "command": None,
         "entrypoint": None},
        {"image": "bitnami/postgresql:16", "credentials": None, "alias": "db", "env": {"A": "1", "B": "x"},
         "command": ["postgres", "-c", "fsync=off"], "entrypoint": None},
    ]


A = "jobs:\n  a:\n    script: x\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (A + "    image: 'Not An Image'\n", 4, "is not an image reference"),
        (A + "    image: {name: ok}\n    services: [{name: 'UPPER'}]\n", 5,
         "is not an image reference"),
        ("default: {image: 'x y'}\njobs:\n  a: {script: x}\n", 1, "default image"),
        (A + "    image: 'sha256:" + "a" * 64 + "'\n", 4, "is an image id"),
        (A + "    image: '621206d65952'\n", 4, "is an image id"),
        (A + "    image: '" + "a" * 64 + "'\n", 4, "is an image id"),
        (A + "    services: [redis:7, redis:6]\n", 4, "two services are called 'redis'"),
        (A + "    services: [{name: r, alias: Bad_Alias}]\n", 4, "is not written as expected"),
        (A + "    services: [{name: r, command: 'a \"b'}]\n", 4, "No closing quotation"),
        (A + "    services: [{name: r, ports: [80]}]\n", 4, "unknown key 'ports'"),
        (A + "    image: {credentials: X}\n", 4, "is missing the key 'name'"),
        (A + "    services: [1, 2, 3, 4, 5, 6]\n", 4, "has too many entries; use at most 5"),
    ],
)
def test_bad_images_and_services_are_file_errors_with_their_line(text, line, message):
    result = pf.parse(text)
    assert not result.ok
    assert any(e.line == line and message in e.message for e in result.errors), result.message


def test_a_bad_image_makes_a_pipeline_error_not_a_server_error(api_as, admin, tenant):
    from tests.modules.cicd.conftest import make_hosted

    make_hosted(tenant, "svc", {".taiji.yml": A + "    image: 'Bad Ref'\n"})
    api = api_as(admin)
    response = api.post(f"/api/v1/tenants/{tenant.slug}/repositories/svc/pipelines", json={"ref": "main"})
    assert response.status_code < 500
    body = response.get_json()
    assert body["status"] == "error" and "is not an image reference" in body["error"], body
