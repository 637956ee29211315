"""The WSGI application for gunicorn: ``gunicorn taiji.wsgi:app``."""

from taiji.platform import commands, config

# No garbage collector walks while the worker imports Taiji and builds the app (commands.starting).
commands.starting()

# Before the app (and with it the metrics) is imported: every gunicorn worker counts into
# the shared folder, and /metrics answers the same whichever worker serves it.
config.share_metrics()

from taiji.platform.app import create_app  # noqa: E402
from taiji.platform.config import API_THREADS  # noqa: E402
from taiji.platform.live_serving import Gate  # noqa: E402

app = create_app()
commands.started()
# `taiji web` gives each gunicorn worker API_THREADS threads plus one per live stream; the gate
# keeps the streams off the API's threads (docs/operations.md, "Live streams").
app.wsgi_app = Gate(app.wsgi_app, API_THREADS)
