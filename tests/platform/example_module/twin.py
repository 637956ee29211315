"""A module that serves the example module's webhook view at another URL and exempts nothing: an
application with it, and without the example module, checks the CSRF token there."""

from __future__ import annotations

from flask import Blueprint

from taiji.platform.module import Module

from . import views

bp = Blueprint("twin", __name__)
bp.add_url_rule("/twin/hook", "hook", views.hook, methods=["POST"])

module = Module(code="twin", title="Twin", blueprints=[bp])
