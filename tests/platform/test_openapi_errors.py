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


def test_the_document_is_built_when_first_read_whole_even_by_two_readers_at_once(tmp_path):
    """Building the document was a third of every process's start (workers and runners never serve
    it): it is built at its first reading, with every API operation, and a second reader at the same
    moment waits for the whole of it rather than reading half."""
    import threading

    from taiji.platform.api import api
    from taiji.platform.app import create_app
    from tests.conftest import app_overrides

    fresh = create_app(app_overrides(f"sqlite:///{tmp_path / 'doc.db'}", tmp_path / "data"))
    assert api._pending_docs, "the document was built at start"
    blueprints = fresh.extensions["flask-smorest"]["blp_name_to_api"]
    operations = {rule.rule for rule in fresh.url_map.iter_rules()
                  if rule.rule.startswith("/api/v1/") and rule.endpoint.split(".")[0] in blueprints}
    answers = []
    gate = threading.Barrier(2)

    def read():
        with fresh.test_client() as client:
            gate.wait()
            answers.append(client.get("/api/v1/openapi.json").json)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert len(answers) == 2 and answers[0] == answers[1]
    documented = {path.replace("{", "<").replace("}", ">") for path in answers[0]["paths"]}
    assert len(operations) > 100
    assert {_bare(rule) for rule in operations} <= {_bare(path) for path in documented}
    assert {tag["name"] for tag in answers[0]["tags"]} == set(blueprints)


def _bare(rule: str) -> str:
    """A rule without its converters' names (``<int:id>`` and ``{id}`` read alike)."""
    import re

    return re.sub(r"<[^>]*>", "<>", rule)
