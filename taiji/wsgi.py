"""The WSGI application for gunicorn: ``gunicorn taiji.wsgi:app``."""

from taiji.platform import config

# Before the app (and with it the metrics) is imported: every gunicorn worker counts into
# the shared folder, and /metrics answers the same whichever worker serves it.
config.share_metrics()

from taiji.platform.app import create_app  # noqa: E402

app = create_app()
