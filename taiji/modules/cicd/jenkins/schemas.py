"""REST schemas of Jenkins controllers and of a repository's CI settings (input and output kept apart)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class JenkinsControllerIn(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "How jobs name it (`jenkins: {controller: NAME}`)"},
    )
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "The controller's http(s) URL; checked by the egress policy"},
    )
    username = fields.String(required=True, validate=validate.Length(min=1, max=200))
    token = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "The user's API token (write-only, sealed at rest)"},
    )
    description = fields.String(load_default="", validate=validate.Length(max=500))
    is_default = fields.Boolean(
        load_default=False, metadata={"description": "Where jobs go that name no controller"}
    )


class JenkinsControllerPatchIn(Schema):
    url = fields.String(validate=validate.Length(min=1, max=500))
    username = fields.String(validate=validate.Length(min=1, max=200))
    token = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "A new API token (left out: the stored one stays)"},
    )
    description = fields.String(validate=validate.Length(max=500))
    is_default = fields.Boolean()


class JenkinsControllerOut(Schema):
    name = fields.String()
    url = fields.String()
    username = fields.String()
    description = fields.String()
    is_default = fields.Boolean()
    updated_by = fields.String(attribute="updated_by_email", allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConnectionTestOut(Schema):
    ok = fields.Boolean()
    kind = fields.String(
        allow_none=True,
        metadata={
            "description": "When not ok: refused, unreachable, credentials, not_jenkins, not_found, failed"
        },
    )
    message = fields.String()
    version = fields.String(allow_none=True)
    user = fields.String(allow_none=True)


class RemoteBuildOut(Schema):
    number = fields.Integer(allow_none=True)
    result = fields.String(allow_none=True)
    building = fields.Boolean()
    timestamp = fields.Integer(allow_none=True)
    duration = fields.Integer(allow_none=True)
    url = fields.String(allow_none=True)


class RemoteJobOut(Schema):
    name = fields.String()
    url = fields.String(allow_none=True)
    color = fields.String(allow_none=True)
    last_build = fields.Nested(RemoteBuildOut, allow_none=True)


class TriggerIn(Schema):
    parameters = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=None,
        metadata={"description": "Build parameters (sent in the request body)"},
    )


class TriggerOut(Schema):
    queue_id = fields.Integer()
    queue_url = fields.String()


class RepositorySettingsIn(Schema):
    default_runner = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "The runner of jobs that name none: platform (Taiji's own) or jenkins"},
    )
    jenkins_controller = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=100),
        metadata={"description": "With jenkins: the controller (else the default)"},
    )


class RepositorySettingsOut(Schema):
    repository = fields.String()
    default_runner = fields.Function(lambda s: s.default_runner or "platform")
    jenkins_controller = fields.String(allow_none=True)
    updated_by = fields.String(attribute="updated_by_email", allow_none=True)
