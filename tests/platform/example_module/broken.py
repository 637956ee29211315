"""A module that subscribes to an event nobody declares: create_app must refuse it."""

from __future__ import annotations

from taiji.platform.module import Module


def _handler(event) -> None:
    pass


module = Module(code="broken", title="Broken", event_handlers={"example.note.deleted": [_handler]})
