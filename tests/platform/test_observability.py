"""Health, readiness, metrics, request ids and JSON logs, as an operator sees them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taiji.platform import events, observability
from taiji.platform.tasks import init_celery
from tests.conftest import app_overrides


@pytest.fixture
def other_app(app, tmp_path):
    """``other_app(**config)``: a separately created application; the Celery app is handed back after."""
    from taiji.platform.app import create_app

    def make(**config):
        config.setdefault("SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'other.db'}")
        return create_app(app_overrides(config.pop("SQLALCHEMY_DATABASE_URI"), tmp_path / "data", **config))

    yield make
    init_celery(app)


@pytest.fixture
def json_log():
    """The JSON lines every logger writes, as Taiji's own handler formats them."""
    stream = io.StringIO()
    handler = observability.json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def _samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _metric(client, name: str, **labels) -> float:
    response = client.get("/metrics")
    return _samples(response.get_data(as_text=True)).get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_answers_while_the_process_lives(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_200_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_is_503_naming_an_unreachable_broker(other_app):
    client = other_app(BROKER_URL="redis://127.0.0.1:1/0").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["down"] == ["broker"]
    assert response.json["checks"]["database"] == "ok"


def test_readyz_is_503_naming_an_unreachable_database(other_app):
    client = other_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://taiji@127.0.0.1:1/nowhere").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["down"] == ["database"]
    assert response.json["checks"]["broker"] == "ok"


def test_metrics_count_requests_and_latency_by_endpoint(client):
    labels = {"method": "GET", "endpoint": "ops.healthz"}
    before = _metric(client, "taiji_http_requests_total", status="200", **labels)
    observed_before = _metric(client, "taiji_http_request_duration_seconds_count", **labels)
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/page")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = _samples(response.get_data(as_text=True))
    ok_key = ("taiji_http_requests_total", tuple(sorted({**labels, "status": "200"}.items())))
    assert samples[ok_key] == before + 3
    count_key = ("taiji_http_request_duration_seconds_count", tuple(sorted(labels.items())))
    assert samples[count_key] == observed_before + 3
    # Unknown paths share one series instead of one per URL.
    unmatched = {"method": "GET", "endpoint": "unmatched", "status": "404"}
    assert samples[("taiji_http_requests_total", tuple(sorted(unmatched.items())))] >= 1


def test_metrics_count_background_tasks_by_outcome(client):
    task = {"task": "platform.relay_outbox"}
    started = _metric(client, "taiji_tasks_started_total", **task)
    succeeded = _metric(client, "taiji_tasks_finished_total", outcome="success", **task)

    events.relay_outbox.apply()

    assert _metric(client, "taiji_tasks_started_total", **task) == started + 1
    assert _metric(client, "taiji_tasks_finished_total", outcome="success", **task) == succeeded + 1


def test_every_answer_carries_a_request_id(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != generated
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.2"
    # Something that does not look like an id is replaced rather than echoed into logs.
    forged = client.get("/healthz", headers={"X-Request-ID": "x\" injected=1 " + "a" * 80})
    assert forged.headers["X-Request-ID"] != "x\" injected=1 " + "a" * 80


def test_request_log_line_is_json_with_the_request_id(anon_api, json_log):
    response = anon_api.get("/api/v1/me", headers={"X-Request-ID": "req-log-1"})
    assert response.status_code == 401

    [line] = [entry for entry in json_log() if entry["logger"] == "taiji.request"]
    assert line["request_id"] == "req-log-1"
    assert line["status"] == 401
    assert line["path"] == "/api/v1/me"
    assert line["level"] == "INFO"


def test_unhandled_error_is_a_500_problem_with_the_request_id_of_its_log_line(other_app, json_log):
    broken = other_app()

    @broken.get("/api/v1/broken")
    def explode():
        raise RuntimeError("the disk caught fire")

    response = broken.test_client().get("/api/v1/broken", headers={"X-Request-ID": "req-boom-1"})

    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.json["request_id"] == "req-boom-1"
    assert "the disk caught fire" not in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] == "req-boom-1"
    [logged] = [entry for entry in json_log() if entry["level"] == "ERROR"]
    assert logged["request_id"] == "req-boom-1"
    assert "the disk caught fire" in logged["exc_info"]


def test_shared_metrics_folder_forgets_only_processes_that_ended(monkeypatch, tmp_path):
    import os
    import subprocess

    from taiji.platform.config import share_metrics

    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    live_file = tmp_path / f"counter_{os.getpid()}.db"
    dead_file = tmp_path / f"counter_{dead_pid.pid}.db"
    live_file.write_bytes(b"")
    dead_file.write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    share_metrics()

    assert live_file.exists()
    assert not dead_file.exists()
