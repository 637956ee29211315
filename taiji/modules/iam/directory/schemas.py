"""REST schemas of a tenant's upstream directory and its email domains."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from .connect import has_control_characters


def _no_control_characters(value: str) -> None:
    # CR/LF in a DN is how bytes meant for LDAP become commands to another protocol.
    if has_control_characters(value):
        raise ValidationError("Must not contain control characters (line breaks, NUL, tabs …).")


def _text(max_length: int, *, minimum: int = 0):
    return [validate.Length(min=minimum, max=max_length), _no_control_characters]


_DN = _text(500)
_ATTR = validate.Regexp(r"^[A-Za-z][A-Za-z0-9-]{0,99}$", error="An LDAP attribute name.")


class DirectoryIn(Schema):
    enabled = fields.Boolean(load_default=True)
    url = fields.String(required=True, validate=_text(500, minimum=8),
                        metadata={"description": "ldap://host[:port] or ldaps://host[:port], at an address "
                                                 "the platform lets directories be at"})
    bind_dn = fields.String(load_default="", validate=_DN)
    bind_password = fields.String(
        load_default=None,
        validate=_text(500),
        load_only=True,
        metadata={"description": "Stored encrypted; omit to keep the current one"},
    )
    user_base = fields.String(required=True, validate=_text(500, minimum=1))
    user_filter = fields.String(load_default="(objectClass=inetOrgPerson)", validate=_DN)
    email_attribute = fields.String(load_default="mail", validate=_ATTR)
    name_attribute = fields.String(load_default="cn", validate=_ATTR)
    group_base = fields.String(load_default="", validate=_DN)
    group_filter = fields.String(load_default="(objectClass=groupOfNames)", validate=_DN)
    member_attribute = fields.String(load_default="member", validate=_ATTR)
    group_roles = fields.Dict(
        keys=fields.String(validate=_text(200, minimum=1)),
        values=fields.String(validate=_text(50, minimum=2)),
        load_default=dict,
        metadata={"description": "Directory group cn -> role key"},
    )
    default_role = fields.String(
        load_default="member", validate=validate.OneOf(["admin", "member", "viewer"])
    )
    ca_certificate = fields.String(
        load_default="", validate=validate.Length(max=100_000),
        metadata={"description": "PEM certificates an ldaps:// server's chain must lead to; the system's "
                                 "CAs when empty. The server's certificate must name the URL's host."})


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
    ca_certificate = fields.String()
    updated_at = fields.DateTime(allow_none=True)


class DirectoryTestOut(Schema):
    ok = fields.Boolean()
    message = fields.String()
    users = fields.Integer(allow_none=True)


class DomainIn(Schema):
    domain = fields.String(required=True, validate=_text(253, minimum=1),
                           metadata={"description": "An email domain such as example.com"})


class DomainOut(Schema):
    id = fields.Integer()
    domain = fields.String()
    status = fields.String(metadata={"description": "pending or verified"})
    method = fields.String(allow_none=True, metadata={"description": "dns or admin, once verified"})
    record_name = fields.String(metadata={"description": "Where to publish the TXT record"})
    record_value = fields.String(metadata={"description": "The TXT record's value"})
    verified_at = fields.DateTime(allow_none=True)
    verified_by = fields.String(allow_none=True)
    checked_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={"description": "What the last DNS check found"})
    created_at = fields.DateTime()


class DomainClaimOut(DomainOut):
    tenant = fields.String(allow_none=True)
    tenant_name = fields.String(allow_none=True)


class DomainClaimQueryIn(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "verified"]))
