"""REST schemas of the OAuth client registry: input and output kept apart."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ClientIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    redirect_uris = fields.List(fields.String(validate=validate.Length(max=2000)), load_default=list)
    post_logout_redirect_uris = fields.List(
        fields.String(validate=validate.Length(max=2000)), load_default=list
    )
    public = fields.Boolean(
        load_default=False, metadata={"description": "No secret; PKCE only (browser and native apps)"}
    )
    grant_types = fields.List(
        fields.String(),
        load_default=None,
        metadata={
            "description": "authorization_code, refresh_token, client_credentials; "
            "default authorization_code and refresh_token"
        },
    )
    scope = fields.String(
        load_default=None, metadata={"description": "Scopes the client may ask for, space-separated"}
    )
    trusted = fields.Boolean(
        load_default=False, metadata={"description": "First-party: skips the consent page"}
    )
    can_introspect = fields.Boolean(load_default=False, metadata={
        "description": "A resource server: may introspect every access token, not only its own"})
    resource = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2000),
        metadata={"description": "The resource indicator (RFC 8707, an absolute URI) of the API this "
                  "client serves: tokens asked for it carry it as aud, and this client may introspect them"},
    )


class ClientPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=255))
    redirect_uris = fields.List(fields.String(validate=validate.Length(max=2000)))
    post_logout_redirect_uris = fields.List(fields.String(validate=validate.Length(max=2000)))
    grant_types = fields.List(fields.String())
    scope = fields.String(validate=validate.Length(max=2000))
    trusted = fields.Boolean()
    can_introspect = fields.Boolean()
    resource = fields.String(allow_none=True, validate=validate.Length(max=2000),
                             metadata={"description": "null or empty: serves no resource"})
    enabled = fields.Boolean(
        metadata={"description": "false: every endpoint refuses the client; its grants end"})


class ClientOut(Schema):
    client_id = fields.String()
    name = fields.String()
    public = fields.Boolean(attribute="is_public")
    trusted = fields.Boolean()
    redirect_uris = fields.List(fields.String())
    post_logout_redirect_uris = fields.List(fields.String())
    grant_types = fields.List(fields.String())
    scope = fields.String()
    enabled = fields.Boolean()
    can_introspect = fields.Boolean()
    resource = fields.String(allow_none=True)
    secret_prefix = fields.String(
        allow_none=True, metadata={"description": "The first characters of the secret"}
    )
    created_at = fields.DateTime()


class ClientCreatedOut(ClientOut):
    client_secret = fields.String(allow_none=True, metadata={"description": "Shown only in this answer"})


class SecretOut(Schema):
    client_id = fields.String()
    client_secret = fields.String()
