"""The example module's console pages, and a webhook that takes no CSRF token."""

from __future__ import annotations

from flask import Blueprint, render_template_string
from flask_babel import gettext as _

from taiji.platform import auth, tenancy

from . import services
from .permissions import Perm

bp = Blueprint("example", __name__)

PAGE = """{% extends "layout.html" %}{% block title %}{{ heading }}{% endblock %}
{% block content %}<h1 data-testid="heading">{{ heading }}</h1>
<ul>{% for note in notes %}<li>{{ note.title }}</li>{% endfor %}</ul>{% endblock %}"""


@bp.get("/t/<tenant>/example/notes")
@auth.require(Perm.NOTE_READ)
def notes(tenant):
    found = services.list_notes(tenancy.current())
    return render_template_string(PAGE, heading=_("Example notes"), notes=found)


@bp.get("/t/<tenant>/example/notes/<int:note_id>")
@auth.require(Perm.NOTE_READ)
def note(tenant, note_id):
    found = services.get_note(tenancy.current(), note_id)
    return render_template_string(PAGE, heading=_("Example notes"), notes=[found])


@bp.post("/example/hook")
def hook():
    """A webhook: its sender authenticates otherwise (here: not at all), never with the cookie."""
    return {"received": True}
