"""A participant's error answer reads as words on the transaction page (issue 15): the HTTP status
with its reason and what the body says (problem+json's title and detail, a plain text's first line,
a local step's message), the body as received folded below, a note when it was cut, and the
participant's text escaped."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taiji.modules.tx.answers import describe, last_error_words
from taiji.platform.db import db
from taiji.platform.tx import services as tx
from tests.platform.tx.conftest import FAST, drive

PROBLEM = {"type": "https://shop.example/problems/out-of-stock", "title": "Conflict", "status": 409,
           "detail": "Not enough stock for order 17 <img src=x onerror=alert(1)>"}
LONG_TEXT = "Card declined by the bank\n" + "trace line\n" * 400


class _Refuser(BaseHTTPRequestHandler):
    """A participant that refuses: /stock with problem+json, /card with a long plain text."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/stock"):
            status, kind, body = 409, "application/problem+json", json.dumps(PROBLEM)
        else:
            status, kind, body = 422, "text/plain; charset=utf-8", LONG_TEXT
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def refuser():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _refused_saga(tenant, url: str) -> str:
    gid = f"ans-{uuid.uuid4().hex[:8]}"
    tx.submit_saga([{"name": "reserve", "action": url, "payload": {"order": 17}}], gid=gid, tenant=tenant,
                   options=FAST)
    db.session.commit()
    drive(gid)
    return gid


def test_a_problem_json_answer_reads_as_words_with_its_body_folded(login, admin, tenant, refuser,
                                                                 loopback_allowed):
    gid = _refused_saga(tenant, f"{refuser}/stock")
    html = login(admin).get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    call = html[html.index('data-testid="tx-call"'):]
    words = call[call.index('data-testid="answer-words">') + 27:].split("</div>", 1)[0]
    # The status with its reason, then the detail (the title only repeats the reason), escaped.
    assert words == "409 Conflict — Not enough stock for order 17 &lt;img src=x onerror=alert(1)&gt;"
    assert "<img src=x" not in html
    # The body as received, folded beneath, pretty-printed; no note: it was kept whole.
    body = call[call.index('<details'):call.index("</details>")]
    assert 'data-testid="answer-raw"' in body and "&#34;title&#34;: &#34;Conflict&#34;,\n" in body
    assert 'data-testid="answer-cut"' not in body
    # Not the raw JSON as the message: neither in the timeline nor on the state card.
    answer = call[call.index('data-testid="call-answer"'):]
    assert "{&#34;" not in answer.split("<details", 1)[0]
    card = html[html.index('data-testid="tx-last-error">'):].split("</div>", 1)[0]
    assert "Not enough stock for order 17" in card and "{&#34;" not in card and "&#34;detail" not in card
    listing = login(admin).get(f"/t/{tenant.slug}/transactions").get_data(as_text=True)
    assert "Not enough stock for order 17" in listing and "&#34;detail" not in listing


def test_a_long_plain_text_answer_shows_its_first_line_and_says_it_was_cut(login, admin, tenant, refuser,
                                                                         loopback_allowed):
    gid = _refused_saga(tenant, f"{refuser}/card")
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    assert 'data-testid="answer-words">422 Unprocessable Entity — Card declined by the bank</div>' in html
    assert 'data-testid="answer-cut"' in html and "only its beginning was kept" in html
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.get(f"/t/{tenant.slug}/transactions/{gid}").get_data(as_text=True)
    note = html[html.index('data-testid="answer-cut">'):].split("</div>", 1)[0]
    assert "1000" in note and "only" not in note and "收到的应答" in html


def test_answers_in_words():
    # A local step's refusal and exception, as the engine records them (no status, no body).
    refused = describe(None, None, "refused: Not enough stock for order 17")
    assert refused.words == "Not enough stock for order 17" and refused.raw is None
    raised = describe(None, None, "ValueError: the price is negative")
    assert raised.words == "ValueError: the price is negative"
    # A JSON error of another shape, and field errors as Taiji's own API gives them.
    assert describe(400, '{"error": {"message": "bad sku"}}').words == "400 Bad Request — bad sku"
    assert describe(422, json.dumps({"title": "Unprocessable Entity", "errors": {"json": {"qty": ["Must be "
                    "positive."]}}})).words == "422 Unprocessable Entity — qty: Must be positive."
    # A JSON body cut when recorded still gives its detail, not the JSON text.
    cut = json.dumps({"detail": "Out of stock", "padding": "x" * 2000})[:999] + "…"
    answer = describe(409, cut)
    assert answer.words == "409 Conflict — Out of stock" and answer.cut
    # An HTML error page says nothing on one line; an unknown status still reads.
    assert describe(502, "<html><body>Bad gateway</body></html>").words == "502 Bad Gateway"
    assert describe(599, "").words == "HTTP 599"
    assert describe(409, '{"result": "FAILURE"}').words == "409 Conflict"
    failed = 'reserve action: FAIL ({"detail": "No stock"})'
    assert last_error_words(failed) == "reserve action: FAIL — No stock"
    timeout = "reserve action: UNKNOWN (timeout after 5s)"
    assert last_error_words(timeout) == timeout
