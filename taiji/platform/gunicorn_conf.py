"""gunicorn settings of `taiji web` that only a configuration module can give: server hooks.

The gunicorn master loads this module; the hooks import what they need when they run, in the worker,
so that the master does not import the web stack (the workers build the application: taiji.wsgi).
"""


def post_worker_init(worker) -> None:
    from taiji.platform.live_serving import gunicorn_post_worker_init

    gunicorn_post_worker_init(worker)
