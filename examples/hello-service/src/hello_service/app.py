"""The HTTP face of the service: ``GET /hello?name=Ada&lang=en`` answers JSON."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .greeting import greet


def respond(path: str) -> tuple[int, dict]:
    """Status and JSON body for a request path (kept apart from the server to test it plainly)."""
    url = urlsplit(path)
    if url.path == "/healthz":
        return 200, {"status": "ok"}
    if url.path != "/hello":
        return 404, {"error": "not found"}
    query = parse_qs(url.query)
    try:
        message = greet(query.get("name", [None])[0], language=query.get("lang", ["en"])[0])
    except ValueError as exc:
        return 400, {"error": str(exc)}
    return 200, {"message": message}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server calls
        status, body = respond(self.path)
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(port: int = 8080) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
