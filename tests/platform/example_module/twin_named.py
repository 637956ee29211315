"""The twin module's blueprint, its webhook exempted from CSRF by endpoint name."""

from __future__ import annotations

from taiji.platform.module import Module

from .twin import bp

module = Module(code="twin", title="Twin", blueprints=[bp], csrf_exempt=["twin.hook"])
