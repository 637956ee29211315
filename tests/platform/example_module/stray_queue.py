"""A module whose queue names a command it does not have: create_app must refuse it."""

from __future__ import annotations

from taiji.platform.module import Module, Queue

module = Module(code="stray", title="Stray", queues=[Queue("stray.slow", "Slow tasks", "stray-pool")])
