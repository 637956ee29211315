"""The engine's own HTTP client (protocol.call): kept-alive connections are reused, a connection
the participant has closed meanwhile is replaced without a failed call, and a participant that
does not answer in time is UNKNOWN (issue 7: throughput without giving up correctness test 12)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taiji.platform.tx import protocol
from taiji.platform.tx.models import OK, UNKNOWN


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[int, str]] = []  # (client port, path) per request
    close_after = False
    delay = 0.0
    padding = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.delay)
        self.seen.append((self.client_address[1], self.path))
        body = json.dumps({"result": "SUCCESS", "padding": "x" * self.padding}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # Closing without saying so: what an idle-timeout on the participant's side looks like.
        self.close_connection = self.close_after

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.seen, _Handler.close_after, _Handler.delay, _Handler.padding = [], False, 0.0, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _call(url: str, timeout: float = 5.0) -> protocol.Answer:
    return protocol.call(url, gid="g:1", branch="reserve", op="action", kind="saga", payload={"n": 1},
                         attempt=1, timeout=timeout)


def test_calls_reuse_one_kept_alive_connection(server):
    assert [_call(f"{server}/a").result for _ in range(3)] == [OK, OK, OK]
    assert len({port for port, _ in _Handler.seen}) == 1
    assert _Handler.seen[0][1] == "/a?gid=g%3A1&branch=reserve&op=action&kind=saga"


def test_a_connection_the_participant_closed_is_replaced_without_a_failed_call(server):
    _Handler.close_after = True
    answers = []
    for _ in range(3):
        answers.append(_call(f"{server}/a"))
        time.sleep(0.05)  # the participant's close reaches us while the connection is idle
    assert [a.result for a in answers] == [OK, OK, OK]
    assert len(_Handler.seen) == 3  # each call made exactly once
    assert len({port for port, _ in _Handler.seen}) == 3


def test_a_participant_answering_too_late_is_unknown_and_the_next_call_works(server):
    _Handler.delay = 0.5
    late = _call(f"{server}/slow", timeout=0.1)
    assert late.result == UNKNOWN and late.error.startswith("timeout after 0.1s")
    _Handler.delay = 0.0
    assert _call(f"{server}/a").result == OK


def test_nobody_listening_is_unknown():
    answer = _call("http://127.0.0.1:9/a", timeout=1.0)
    assert answer.result == UNKNOWN and answer.status_code is None and answer.error


def test_an_answer_is_read_up_to_its_limit_and_its_connection_is_not_kept(server):
    # A participant's (or receiver's) answer is a verdict and a summary: a huge one is not read.
    _Handler.padding = 3 * protocol.ANSWER_LIMIT
    big = _call(f"{server}/big")
    assert big.result == OK and big.status_code == 200 and len(big.summary) <= protocol.SUMMARY_LIMIT
    _Handler.padding = 0
    assert _call(f"{server}/a").result == OK
    assert len({port for port, _ in _Handler.seen}) == 2  # a fresh connection after the cut
