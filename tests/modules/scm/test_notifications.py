"""GET /config/<tenant>/<component>/<environment>/notifications: the long poll and its event-stream
form. The waiting itself is tested against a real `taiji web` (gunicorn, two workers): a publish
committed by another process answers the waiting clients — one, a stream, and 500 at once."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from taiji.platform.db import db
from taiji.platform.tasks import init_celery
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.factories import make_token
from tests.fakes.event_probe import wait_for
from tests.modules.scm.client_fixtures import basic, make_setup

WAITERS = 500

@pytest.fixture
def setup(app):
    return make_setup()



def _url(setup, query: str) -> str:
    return f"/config/{setup.tenant.slug}/orders/dev/notifications{query}"


# -- in process: the answers that do not wait -----------------------------------------------------------


def test_a_client_behind_is_answered_at_once(client, setup):
    response = client.get(_url(setup, "?release=0"), headers=basic(setup.keys["dev"]))
    assert response.status_code == 200 and response.get_json() == {"release": 1}


def test_nothing_new_is_304_when_the_wait_ends(client, setup):
    headers = basic(setup.keys["dev"])
    assert client.get(_url(setup, "?release=1&timeout=0"), headers=headers).status_code == 304
    waited = client.get(_url(setup, "?release=1&timeout=1"), headers=headers)
    assert waited.status_code == 304 and waited.data == b""


def test_a_gray_instance_is_told_of_its_own_release(client, setup):
    from taiji.modules.scm import services as scm

    scm.put_item(setup.tenant, setup.owner, setup.component, "dev", "greeting", value="gray")
    scm.publish(setup.tenant, setup.owner, setup.component, "dev", gray={"selector": "zone=bj"})
    db.session.commit()
    headers = basic(setup.keys["dev"])
    chosen = client.get(_url(setup, "?release=1&instance=a&labels=zone=bj"), headers=headers)
    assert chosen.get_json() == {"release": 2}
    other = client.get(_url(setup, "?release=1&instance=b&labels=zone=sh&timeout=0"), headers=headers)
    assert other.status_code == 304


def test_the_event_stream_sends_the_release_to_hold(client, setup):
    response = client.get(_url(setup, "?release=0"), headers={**basic(setup.keys["dev"]),
                                                              "Accept": "text/event-stream"}, buffered=False)
    try:
        assert response.status_code == 200 and response.mimetype == "text/event-stream"
        text = ""
        for chunk in response.response:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: release" in text:
                break
        assert 'event: release\nid: 1\ndata: {"release":1}' in text
    finally:
        response.close()


def test_bad_notification_input_is_400_and_refusals_as_for_reads(client, setup):
    headers = basic(setup.keys["dev"])
    for query, word in (("", "release"), ("?release=x", "release"), ("?release=-1", "release"),
                        ("?release=1&timeout=61", "timeout"), ("?release=1&labels=,", "labels"),
                        ("?release=1&instance=%20", "instance")):
        response = client.get(_url(setup, query), headers=headers)
        assert response.status_code == 400, (query, response.get_data(as_text=True))
        assert word in response.get_data(as_text=True)
    assert client.get(_url(setup, "?release=1")).status_code == 401
    assert client.get(_url(setup, "?release=1"), headers=basic(setup.keys["prod"])).status_code == 404
    unknown = client.get(f"/config/{setup.tenant.slug}/nothing/dev/notifications?release=0", headers=headers)
    assert unknown.status_code == 404


def test_a_waiting_poll_sees_its_client_leave():
    from taiji.modules.scm.client_api import _gone

    ours, theirs = socket.socketpair()
    try:
        assert not _gone(ours) and not _gone(None)  # waiting, or not served by gunicorn
        theirs.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request is not a departure
        assert not _gone(ours)
        theirs.close()
        ours.recv(100)
        assert _gone(ours)  # the client closed: the poll gives its place back
    finally:
        ours.close()


# -- against a real server --------------------------------------------------------------------------------


def _redis_url() -> str:
    url = os.environ.get("TAIJI_TEST_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    def __init__(self, app, base: str, slug: str, key: str, token: str):
        self.app, self.base, self.slug, self.key, self.token = app, base, slug, key, token
        self.number = 1

    def publish(self, value: str) -> int:
        """A new release through the REST API (a request to the server, as a person publishes)."""
        api = f"{self.base}/api/v1/tenants/{self.slug}/config/orders/dev"
        headers = {"Authorization": f"Bearer {self.token}"}
        changed = requests.put(f"{api}/items/greeting", json={"value": value}, headers=headers, timeout=60)
        assert changed.status_code in (200, 201), changed.text
        published = requests.post(f"{api}/releases", json={"comment": "live"}, headers=headers, timeout=60)
        assert published.status_code == 201, published.text
        self.number = published.json()["number"]
        return self.number

    def url(self, query: str) -> str:
        return f"{self.base}/config/{self.slug}/orders/dev/notifications{query}"


@pytest.fixture(scope="module")
def served(tmp_path_factory, app):
    tmp = tmp_path_factory.mktemp("scm-live")
    database = sibling_database("scm_live", tmp, migrated=True)
    data_dir = tmp / "data"
    redis_url = _redis_url() if not database.startswith("sqlite") else ""
    seeding = create_seeding_app(database, data_dir, redis_url)
    with seeding.app_context():
        made = make_setup(slug="live-config")
        key, token = made.keys["dev"], make_token(made.owner)
        db.session.commit()
        db.session.remove()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAIJI_", "PROMETHEUS_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "TAIJI_DATABASE_URL": database, "TAIJI_DATA_DIR": str(data_dir),
        "TAIJI_SECRET_KEY": "test-secret-key", "TAIJI_PORT": str(port), "TAIJI_REDIS_URL": redis_url,
        "TAIJI_BROKER_URL": redis_url or "filesystem://", "TAIJI_WEB_WORKERS": "2",
        "TAIJI_LIVE_MAX_STREAMS": str(WAITERS + 100), "GUNICORN_CMD_ARGS": "--reuse-port",
    })
    log = tmp / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "taiji.cli", "web", "--no-bootstrap"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            with contextlib.suppress(requests.RequestException):
                return requests.get(base + "/healthz", timeout=2).status_code == 200
            return False

        wait_for(up, 120, "taiji web to answer")
        yield Served(seeding, base, "live-config", key, token)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with seeding.app_context():
            db.engine.dispose()
        init_celery(app)  # the Celery app is process-wide: hand it back


def create_seeding_app(database: str, data_dir: Path, redis_url: str):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    seeding = create_app(app_overrides(database, data_dir, REDIS_URL=redis_url))
    with seeding.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
    return seeding


@pytest.mark.live
def test_a_waiting_poll_is_answered_by_a_publish(served):
    held = served.number
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        requests.get(served.url(f"?release={held}&timeout=60"), headers=basic(served.key), timeout=90)))
    waiter.start()
    time.sleep(1.0)  # let the poll reach the server and wait there
    assert not answers
    number = served.publish("after a wait")
    waiter.join(90)
    assert answers and answers[0].status_code == 200 and answers[0].json() == {"release": number}
    read = requests.get(f"{served.base}/config/{served.slug}/orders/dev", headers=basic(served.key),
                        timeout=30)
    assert read.json()["values"]["greeting"] == "after a wait"
    quiet = requests.get(served.url(f"?release={number}&timeout=1"), headers=basic(served.key), timeout=30)
    assert quiet.status_code == 304


@pytest.mark.live
def test_a_stream_gets_a_release_event(served):
    held = served.number
    headers = {**basic(served.key), "Accept": "text/event-stream"}
    url = served.url(f"?release={held}")
    with requests.get(url, headers=headers, stream=True, timeout=(5, 60)) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines(chunk_size=1, decode_unicode=True)
        assert next(lines).startswith("retry:")
        number = served.publish("streamed")
        event = {}
        for line in lines:
            if line.startswith("event:"):
                event["event"] = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                event["data"] = json.loads(line.split(":", 1)[1])
                if event.get("event") == "release":
                    break
        assert event == {"event": "release", "data": {"release": number}}


@pytest.mark.live
def test_five_hundred_waiting_clients_are_all_answered_by_one_publish(served):
    held = served.number
    host, port = served.base.removeprefix("http://").split(":")
    auth = basic(served.key)["Authorization"]
    path = f"/config/{served.slug}/orders/dev/notifications?release={held}&timeout=60&instance=pod-{{}}"
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n")
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    try:
        for i in range(WAITERS):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(request.format(i).encode())
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            received[sock] = b""
        time.sleep(3.0)  # let every poll reach the server and wait there
        early = [data for data in received.values() if data]
        assert not early
        number = served.publish("for everyone")
        deadline = time.monotonic() + 90
        open_ = len(received)
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    received[sock] += data
                else:  # the answer is complete: close at once, as an HTTP client does (gunicorn
                    # lingers on a half-closed connection until the client closes it)
                    selector.unregister(sock)
                    sock.close()
                    open_ -= 1
        answers = [data.decode(errors="replace") for data in received.values()]
        statuses = [text.split(" ", 2)[1] if text.startswith("HTTP/1.1 ") else "none" for text in answers]
        assert statuses.count("200") == WAITERS, {s: statuses.count(s) for s in set(statuses)}
        assert all(text.endswith(json.dumps({"release": number}, separators=(",", ":"))) for text in answers)
    finally:
        for sock in received:
            with contextlib.suppress(OSError):
                sock.close()
