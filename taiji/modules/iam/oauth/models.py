"""Tables of the OpenID Connect provider: clients, authorization grants, refresh tokens, signing keys.

Every secret the provider hands out (client secrets, codes, refresh tokens) is stored as a
sha256 digest: each carries at least 256 bits of randomness, so a fast hash suffices.
"""

from __future__ import annotations

import enum
import hmac

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TimestampMixin, intpk, str255, timestamp, utcnow

from .scopes import digest, scope_list

AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class OAuthClient(TimestampMixin, Model):
    """A relying party: a tool that signs people in through Taiji, or a machine client."""

    __tablename__ = "iam_oauth_client"

    id: Mapped[intpk]
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str255]
    secret_hash: Mapped[str | None] = mapped_column(sa.String(64))
    secret_prefix: Mapped[str | None] = mapped_column(sa.String(16))
    is_public: Mapped[bool] = mapped_column(default=False)
    # First-party clients (the console, Taiji's own modules) skip the consent page.
    trusted: Mapped[bool] = mapped_column(default=False)
    redirect_uris: Mapped[list] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(sa.JSON, default=list)
    grant_types: Mapped[list] = mapped_column(sa.JSON, default=list)
    scope: Mapped[str] = mapped_column(sa.String(2000), default="openid profile email")
    # A disabled client is unknown to every endpoint: no sign-in, no token, no refresh.
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # A resource server (an API that accepts Taiji's access tokens) may introspect every token.
    can_introspect: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The resource indicator (RFC 8707) of the API this client serves: tokens asked for it carry it
    # as their ``aud``, and this client may introspect them.
    resource: Mapped[str | None] = mapped_column(sa.String(2000), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="SET NULL"))

    # -- authlib ClientMixin --------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous registration may stand in for a missing redirect_uri.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = scope_list(self.scope)
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None or not client_secret:
            return False
        return hmac.compare_digest(self.secret_hash, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris or [])}

    @property
    def token_endpoint_auth_method(self) -> str:
        return "none" if self.is_public else "client_secret_basic"


class OAuthGrant(Model):
    """One authorization: the code a user approved, and the family of tokens issued from it.

    The code is single-use (``used_at``); the row stays as long as its refresh tokens may live, so
    a replayed code, a reused refresh token or a revocation can revoke everything the grant issued.
    """

    __tablename__ = "iam_oauth_code"
    __table_args__ = (sa.Index("ix_iam_oauth_code_client_nonce", "client_pk", "nonce"),)

    id: Mapped[intpk]
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    family: Mapped[str] = mapped_column(sa.String(32), unique=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("iam_oauth_client.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str | None] = mapped_column(sa.String(2000))
    scope: Mapped[str] = mapped_column(sa.String(2000), default="")
    nonce: Mapped[str | None] = mapped_column(sa.String(255))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(10))
    # The console session the user approved from; RP-initiated logout revokes by it.
    session_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Resource indicators the authorization asked for (RFC 8707); tokens of this grant are limited
    # to them. None: no restriction (the tokens' audience is then the client itself).
    resources: Mapped[list | None] = mapped_column(sa.JSON)
    auth_time: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    expires_at: Mapped[timestamp]
    used_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]

    # -- authlib AuthorizationCodeMixin ---------------------------------------------------------

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["pwd"]


class TokenKind(enum.StrEnum):
    REFRESH = "refresh"
    # A revoked access token: JWTs cannot be recalled, so their jti is remembered until they expire.
    ACCESS = "access"


class OAuthToken(Model):
    """Refresh tokens (opaque, hashed) and the jti of revoked access tokens."""

    __tablename__ = "iam_oauth_token"

    id: Mapped[intpk]
    kind: Mapped[TokenKind] = mapped_column(
        sa.Enum(TokenKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e])
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The grant family: every refresh token of one chain shares it (reuse revokes them all).
    family: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("iam_oauth_client.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(2000), default="")
    # The user's session epoch when issued: a password change or disabling ends the chain.
    user_epoch: Mapped[int] = mapped_column(default=0)
    issued_at: Mapped[timestamp] = mapped_column(default=utcnow)
    expires_at: Mapped[timestamp] = mapped_column(index=True)
    rotated_at: Mapped[timestamp | None]
    revoked_at: Mapped[timestamp | None]

    # -- authlib TokenMixin ---------------------------------------------------------------------

    def check_client(self, client: OAuthClient) -> bool:
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.rotated_at is not None


class SigningKey(Model):
    """An RS256 key pair; the private half is encrypted with a key derived from SECRET_KEY."""

    __tablename__ = "iam_signing_key"

    id: Mapped[intpk]
    kid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    alg: Mapped[str] = mapped_column(sa.String(10), default="RS256")
    public_jwk: Mapped[dict] = mapped_column(sa.JSON)
    private_key_encrypted: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    # Published in JWKS from creation; signs only from this moment, so relying parties that
    # cache JWKS have seen it before the first token it signs reaches them.
    activates_at: Mapped[timestamp] = mapped_column(index=True)
    retired_at: Mapped[timestamp | None]


class OAuthConsent(Model):
    """Scopes a user approved for a third-party client: asked once, then remembered until revoked."""

    __tablename__ = "iam_oauth_consent"
    __table_args__ = (sa.UniqueConstraint("user_id", "client_pk", name="uq_iam_oauth_consent_user_client"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"))
    client_pk: Mapped[int] = mapped_column(
        sa.ForeignKey("iam_oauth_client.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(2000), default="")
    granted_at: Mapped[timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow)
