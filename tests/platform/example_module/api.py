"""The example module's REST routes."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint

from . import services
from .permissions import Perm

blp = Blueprint("example_api", __name__, url_prefix="/api/v1", description="Example notes")


class NoteIn(Schema):
    title = fields.String(required=True)


class NoteOut(Schema):
    id = fields.Integer()
    title = fields.String()
    stamped = fields.Boolean()


@blp.route("/tenants/<tenant>/example/notes")
class Notes(MethodView):
    @auth.require(Perm.NOTE_READ)
    @blp.response(200, NoteOut(many=True))
    def get(self, tenant):
        """The tenant's notes"""
        return services.list_notes(tenancy.current())

    @auth.require(Perm.NOTE_WRITE)
    @blp.arguments(NoteIn)
    @blp.response(201, NoteOut)
    def post(self, data, tenant):
        """Write a note"""
        return services.create_note(tenancy.current(), data["title"])
