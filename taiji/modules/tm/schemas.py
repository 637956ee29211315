"""REST schemas of TM: input and output kept apart."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

ROLES = ["owner", "admin", "member", "viewer"]


class TenantIn(Schema):
    slug = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    owner_email = fields.String(load_default=None, metadata={
        "description": "Who becomes the first owner; the caller when omitted"})


class TenantPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    status = fields.String(validate=validate.OneOf(["active", "suspended"]),
                           metadata={"description": "Platform administrators only"})
    mfa_required = fields.Boolean(metadata={
        "description": "Members must use two-factor authentication to open the tenant (tm:tenant:write)"})


class TenantOut(Schema):
    slug = fields.String()
    name = fields.String()
    status = fields.String()
    mfa_required = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TenantQueryIn(Schema):
    q = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["active", "suspended"]))


class MemberIn(Schema):
    email = fields.String(required=True, validate=validate.Length(max=255))
    role = fields.String(load_default="member", validate=validate.OneOf(ROLES))


class MemberPatchIn(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class MemberOut(Schema):
    user_id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.String()
    joined_at = fields.DateTime()


class MemberQueryIn(Schema):
    q = fields.String(load_default=None)
    role = fields.String(load_default=None, validate=validate.OneOf(ROLES))


class InvitationIn(Schema):
    email = fields.String(required=True, validate=validate.Length(max=255))
    role = fields.String(load_default="member", validate=validate.OneOf(ROLES))


class InvitationOut(Schema):
    id = fields.Integer()
    email = fields.String()
    role = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    state = fields.String()
    delivery = fields.String(metadata={
        "description": "How the link reaches the invitee: `mail` (sent by Taiji to the address only; "
                       "never shown to the inviter) or `link` (given to the inviter to pass on; no mail "
                       "server is configured)"})


class InvitationCreatedOut(InvitationOut):
    accept_url = fields.String(metadata={
        "description": "The link to send to the invitee, shown only once; present only when `delivery` "
                       "is `link` (with a mail server, Taiji mails it and nobody else sees it)"})


class InvitedTenantOut(Schema):
    slug = fields.String()
    name = fields.String()


class MyInvitationOut(Schema):
    id = fields.Integer()
    tenant = fields.Nested(InvitedTenantOut, allow_none=True, metadata={
        "description": "null until the caller's email is verified"})
    role = fields.String(allow_none=True, metadata={
        "description": "null until the caller's email is verified"})
    invited_by = fields.String(allow_none=True, metadata={
        "description": "The inviter's email; null until the caller's email is verified"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    can_accept = fields.Boolean(metadata={
        "description": "false while the caller's email is not verified (POST /api/v1/me/email/verification)"})


class InvitationQueryIn(Schema):
    all = fields.Boolean(load_default=False, metadata={"description": "Include accepted, revoked, expired"})


class QuotaOut(Schema):
    name = fields.String()
    label = fields.String()
    unit = fields.String()
    used = fields.Integer()
    limit = fields.Integer(allow_none=True)


class QuotaIn(Schema):
    # BIGINT's range bounds it: storage quotas count bytes.
    limit = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0, max=2**63 - 1))


class AuditOut(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    tenant_id = fields.Integer(allow_none=True)
    actor_email = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String()
    target = fields.String()
    details = fields.Dict()
    address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    via = fields.String()


class AuditQueryIn(Schema):
    action = fields.String(load_default=None, metadata={"description": "Prefix, e.g. tm.member"})
