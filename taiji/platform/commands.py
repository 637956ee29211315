"""What the ``taiji`` shell commands share, in the kernel so that a module's commands need not
import ``taiji.cli`` (which imports the modules' command groups: that was an import circle).

``get_app()`` builds the application once per process from the environment; ``service_message``
turns a refused service call into the one line a shell user reads.
"""

from __future__ import annotations

import click

_app = None


def get_app():
    global _app
    if _app is None:
        from taiji.platform.app import create_app
        from taiji.platform.config import ConfigError

        try:
            _app = create_app()
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
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
