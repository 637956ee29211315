"""The WSGI application for gunicorn: ``gunicorn taiji.wsgi:app``."""

from taiji.platform.app import create_app

app = create_app()
