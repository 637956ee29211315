"""REST schemas of a tenant's upstream directory."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_DN = validate.Length(max=500)
_ATTR = validate.Regexp(r"^[A-Za-z][A-Za-z0-9-]{0,99}$", error="An LDAP attribute name.")


class DirectoryIn(Schema):
    enabled = fields.Boolean(load_default=True)
    url = fields.String(required=True, validate=validate.Length(min=8, max=500))
    bind_dn = fields.String(load_default="", validate=_DN)
    bind_password = fields.String(
        load_default=None,
        validate=validate.Length(max=500),
        load_only=True,
        metadata={"description": "Stored encrypted; omit to keep the current one"},
    )
    user_base = fields.String(required=True, validate=validate.Length(min=1, max=500))
    user_filter = fields.String(load_default="(objectClass=inetOrgPerson)", validate=_DN)
    email_attribute = fields.String(load_default="mail", validate=_ATTR)
    name_attribute = fields.String(load_default="cn", validate=_ATTR)
    group_base = fields.String(load_default="", validate=_DN)
    group_filter = fields.String(load_default="(objectClass=groupOfNames)", validate=_DN)
    member_attribute = fields.String(load_default="member", validate=_ATTR)
    group_roles = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        values=fields.String(validate=validate.Length(min=2, max=50)),
        load_default=dict,
        metadata={"description": "Directory group cn -> role key"},
    )
    default_role = fields.String(
        load_default="member", validate=validate.OneOf(["admin", "member", "viewer"])
    )


class DirectoryOut(Schema):
    configured = fields.Boolean()
    enabled = fields.Boolean()
    url = fields.String()
    bind_dn = fields.String()
    has_bind_password = fields.Boolean()
    user_base = fields.String()
    user_filter = fields.String()
    email_attribute = fields.String()
    name_attribute = fields.String()
    group_base = fields.String()
    group_filter = fields.String()
    member_attribute = fields.String()
    group_roles = fields.Dict(keys=fields.String(), values=fields.String())
    default_role = fields.String()
    updated_at = fields.DateTime(allow_none=True)


class DirectoryTestOut(Schema):
    ok = fields.Boolean()
    message = fields.String()
    users = fields.Integer(allow_none=True)
