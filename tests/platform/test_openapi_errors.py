"""The API's contract says what clients get (issue 12, finding 24): every error response of the
OpenAPI document is application/problem+json, as the errors really are, never application/json."""

from __future__ import annotations

from taiji.platform.api import PROBLEM_JSON


def _resolve(document: dict, response: dict) -> dict:
    ref = response.get("$ref")
    if ref is None:
        return response
    name = ref.rsplit("/", 1)[-1]
    return document["components"]["responses"][name]


def test_every_error_response_of_the_document_is_problem_json(client):
    document = client.get("/api/v1/openapi.json").json
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for status, response in operation["responses"].items():
                if status != "default" and not status.startswith(("4", "5")):
                    continue
                content = _resolve(document, response).get("content") or {}
                assert set(content) == {PROBLEM_JSON}, (method, path, status, list(content))
                checked += 1
    assert checked > 100  # every operation has at least its default error
    for name, response in document["components"]["responses"].items():
        if name == "DEFAULT_ERROR" or (response.get("content") and name in _error_names()):
            assert set(response["content"]) == {PROBLEM_JSON}, name


def _error_names() -> set[str]:
    from http import HTTPStatus

    return {status.name for status in HTTPStatus if status >= 400}


def test_what_the_document_promises_is_what_an_error_is(client, api_as, admin, tenant):
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/tenants/{tenant}/repositories"]["post"]
    promised = {status for status in operation["responses"] if status != "default"}
    answer = api_as(admin).post(f"/api/v1/tenants/{tenant.slug}/repositories", json={"name": 5})
    assert str(answer.status_code) in promised and answer.mimetype == PROBLEM_JSON
