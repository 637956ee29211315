"""REST schemas of IAM: input and output kept apart."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class TenantRefOut(Schema):
    slug = fields.String()
    name = fields.String()
    role = fields.String()
    status = fields.String()


class MeOut(Schema):
    id = fields.Integer()
    email = fields.String()
    email_verified = fields.Boolean(metadata={
        "description": "Whether the address is proven to be the caller's; needed to answer invitations"})
    name = fields.String()
    locale = fields.String(allow_none=True)
    is_admin = fields.Boolean()
    tenants = fields.List(fields.Nested(TenantRefOut))


class MeUpdateIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255))
    locale = fields.String(validate=validate.OneOf(["en", "zh_Hans"]))


class TokenIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(fields.String(), load_default=None,
                         metadata={"description": "Permissions the token may use; all of yours when omitted"})
    expires_at = fields.AwareDateTime(load_default=None)


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    scopes = fields.List(fields.String(), allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class TokenCreatedOut(TokenOut):
    token = fields.String(metadata={"description": "The token itself; shown only in this answer"})


class UserIn(Schema):
    email = fields.String(required=True, validate=validate.Length(max=255))
    name = fields.String(validate=validate.Length(max=255))
    password = fields.String(load_default=None, load_only=True)
    admin = fields.Boolean(load_default=False)


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String()
    email_verified_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the address was proven to be the user's; null while it is not"})
    name = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)


class UserQueryIn(Schema):
    q = fields.String(load_default=None)


class EmailVerificationOut(Schema):
    email = fields.String(metadata={"description": "Where the link was mailed"})
    expires_in = fields.Integer(metadata={"description": "Seconds the link stays valid"})
