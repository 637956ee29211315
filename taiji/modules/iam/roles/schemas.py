"""REST schemas of roles, groups and bindings."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class RoleIn(Schema):
    key = fields.String(required=True, validate=validate.Length(min=2, max=50))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=500))
    permissions = fields.List(
        fields.String(validate=validate.Length(max=100)), load_default=list, validate=validate.Length(max=200)
    )


class RolePatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))
    permissions = fields.List(
        fields.String(validate=validate.Length(max=100)), validate=validate.Length(max=200)
    )


class RoleOut(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    permissions = fields.List(fields.String())
    builtin = fields.Boolean()
    created_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime(allow_none=True)


class PermissionOut(Schema):
    name = fields.String()
    description = fields.String()


class BindingIn(Schema):
    user_email = fields.String(load_default=None, validate=validate.Length(max=255))
    group = fields.String(load_default=None, validate=validate.Length(max=50))


class BindingOut(Schema):
    id = fields.Integer()
    role = fields.String()
    user_email = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    source = fields.String()
    created_at = fields.DateTime()


class GroupIn(Schema):
    key = fields.String(required=True, validate=validate.Length(min=2, max=50))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=500))


class GroupPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))


class GroupOut(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class GroupMemberIn(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=255))


class GroupMemberOut(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
