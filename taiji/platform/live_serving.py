"""Serving API requests and live streams in one gunicorn worker (taiji/platform/live.py streams).

``taiji web`` gives each worker ``config.API_THREADS`` threads plus one per live stream; the gate keeps
the streams off the API's threads (docs/operations.md, "Live streams")."""

from __future__ import annotations

import threading

from taiji.platform.live import shutdown


class Gate:
    """WSGI middleware: at most ``api_threads`` requests of a process run the application at once;
    a request that becomes an event stream gives its place back (``stream`` calls
    ``environ["taiji.release_api_slot"]``) and holds a stream slot instead. gunicorn runs the
    process with ``api_threads + LIVE_MAX_STREAMS`` threads, so open streams never take the
    threads API requests need, and API requests never pile up past what they did before."""

    def __init__(self, wsgi_app, api_threads: int):
        self.wsgi_app = wsgi_app
        self.slots = threading.BoundedSemaphore(api_threads)

    def __call__(self, environ, start_response):
        self.slots.acquire()
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                self.slots.release()

        environ["taiji.release_api_slot"] = release
        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            release()
            raise
        return _Closing(body, release)


class _Closing:
    """The response body, giving the API slot back when the server closes it (after the last byte)."""

    def __init__(self, body, release):
        self.body, self._release = body, release

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._release()


def gunicorn_post_worker_init(worker) -> None:
    """gunicorn hook: on SIGTERM, end this worker's streams at once, so that the graceful stop
    (10 s) waits only for API requests; EventSource clients reconnect to whichever server is up."""
    import signal

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        shutdown()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
