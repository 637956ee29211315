"""IAM REST routes: the caller (/me), their tokens, and user administration."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.errors import NotFound, msg

from . import services, verification
from .permissions import Perm
from .schemas import (
    EmailVerificationOut,
    MeOut,
    MeUpdateIn,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserQueryIn,
)

blp = Blueprint("iam_api", __name__, url_prefix="/api/v1", description="Users, the caller, tokens")


def _me():
    principal = auth.current_principal()
    user = services.get_user(principal.user_id)
    roles = services.tenant_ids_of(user.id)
    tenants = [{"slug": t.slug, "name": t.name, "role": roles[t.id], "status": t.status.value}
               for t in tenancy.tenants_by_ids(roles)]
    return {"id": user.id, "email": user.email, "email_verified": services.is_email_verified(user),
            "name": user.name, "locale": user.locale, "is_admin": principal.is_admin, "tenants": tenants}


@blp.route("/me")
class Me(MethodView):
    @auth.require()
    @blp.response(200, MeOut)
    def get(self):
        """The caller: profile, platform role and tenants"""
        return _me()

    @auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.arguments(MeUpdateIn)
    @blp.response(200, MeOut)
    def patch(self, data):
        """Change the caller's name or language (iam:account:write)"""
        user = services.get_user(auth.current_principal().user_id)
        if "name" in data:
            services.update_profile(user, data["name"])
        if "locale" in data:
            services.set_locale(user.id, data["locale"])
        return _me()


@blp.route("/me/email/verification")
class MyEmailVerification(MethodView):
    @auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.response(202, EmailVerificationOut)
    def post(self):
        """Mail the caller a link that verifies their email address (iam:account:write).

        The link works once, for 24 hours, opened in the console while signed in to this account.
        409 when the address is verified already or the server has no mail server (then a
        platform administrator verifies it: `POST /api/v1/users/{id}/email/verify`); 429 after
        five mails in an hour.
        """
        user = services.get_user(auth.current_principal().user_id)
        services.send_email_verification(user)
        return {"email": user.email, "expires_in": int(verification.TTL.total_seconds())}


def _token_manager():
    """The caller's account, once it may manage personal access tokens (not an OAuth token)."""
    principal = auth.current_principal()
    services.check_token_management(principal)
    return services.get_user(principal.user_id)


@blp.route("/me/tokens")
class MyTokens(MethodView):
    @auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.response(200, TokenOut(many=True))
    def get(self):
        """The caller's personal access tokens (never the tokens themselves; iam:account:write)"""
        return services.list_tokens(_token_manager())

    @auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.arguments(TokenIn)
    @blp.response(201, TokenCreatedOut)
    def post(self, data):
        """Create a personal access token; the answer is the only time it is shown.

        Needs iam:account:write. Called with a token, the new token's scopes must be among the
        caller's and it must expire no later; OAuth access tokens cannot create one.
        """
        user = _token_manager()
        row, plaintext = services.create_token(user, data["name"], scopes=data["scopes"],
                                               expires_at=data["expires_at"],
                                               caller=auth.current_principal())
        # The response schema dumps this once; handing it an already dumped dict would dump twice.
        out = {name: getattr(row, name) for name in TokenOut().fields}
        out["token"] = plaintext
        return out


@blp.route("/me/tokens/<int:token_id>")
class MyToken(MethodView):
    @auth.require(Perm.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.response(204)
    def delete(self, token_id):
        """Revoke one of the caller's tokens (iam:account:write)"""
        services.revoke_token(_token_manager(), token_id)


@blp.route("/users")
class Users(MethodView):
    @auth.require(Perm.USER_READ, tenant_scoped=False)
    @blp.arguments(UserQueryIn, location="query")
    @blp.response(200, UserOut(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """All users (platform administrators)"""
        page = services.list_users(search=query["q"], page=pagination_parameters.page,
                                   page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.USER_WRITE, tenant_scoped=False)
    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    def post(self, data):
        """Create a user (platform administrators)"""
        # Made by a platform administrator: the platform vouches for the address.
        return services.create_user(data["email"], data.get("name"), data["password"], admin=data["admin"],
                                    email_verified=True)


@blp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @auth.require(Perm.USER_READ, tenant_scoped=False)
    @blp.response(200, UserOut)
    def get(self, user_id):
        """One user"""
        user = services.get_user(user_id)
        if user is None:
            raise NotFound(msg("No user %(user_id)s.", user_id=user_id))
        return user


@blp.route("/users/<int:user_id>/email/verify")
class UserEmailVerify(MethodView):
    @auth.require(Perm.USER_WRITE, tenant_scoped=False)
    @blp.response(200, UserOut)
    def post(self, user_id):
        """Vouch for a user's email address (platform administrators; audited as iam.user.email_verified)"""
        user = services.get_user(user_id)
        if user is None:
            raise NotFound(msg("No user %(user_id)s.", user_id=user_id))
        services.mark_email_verified(user, "admin")
        return user
