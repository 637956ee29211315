"""gunicorn settings of `taiji web` that only a configuration module can give: server hooks."""

from taiji.platform.live_serving import gunicorn_post_worker_init as post_worker_init  # noqa: F401
