"""What the ``taiji`` shell commands share, in the kernel so that a module's commands need not
import ``taiji.cli`` (which imports the modules' command groups: that was an import circle).

``get_app()`` builds the application once per process from the environment; ``service_message``
turns a refused service call into the one line a shell user reads.
"""

from __future__ import annotations

import gc

import click

_app = None


def starting() -> None:
    """Pause the cyclic garbage collector while a process imports Taiji and builds the application.

    Starting makes some 340,000 objects that live as long as the process; the collector walked them
    again and again while they were made, a quarter of a start's CPU (about 0.3 s of 1.2 s here).
    ``started()`` turns it back on with them frozen (never walked again, which also makes every later
    full collection cheaper). A command that never builds the application is short: it ends with
    the collector still paused, having freed what reference counting frees.
    """
    gc.disable()


def started() -> None:
    gc.freeze()
    gc.enable()


def get_app():
    global _app
    if _app is None:
        from taiji.platform.app import create_app
        from taiji.platform.config import ConfigError

        try:
            _app = create_app()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            if not gc.isenabled():
                started()
    return _app


def service_message(exc) -> str:
    """A ServiceError's detail followed by each distinct field message, on one line."""
    details = [exc.detail]
    for fields in (exc.errors or {}).values():
        for messages in (fields.values() if isinstance(fields, dict) else [fields]):
            for message in messages if isinstance(messages, list) else [str(messages)]:
                if message not in details:
                    details.append(message)
    return " ".join(details)
