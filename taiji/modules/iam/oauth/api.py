"""REST routes of the OAuth client registry (platform administrators)."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.api import Blueprint, set_page_count

from . import services
from .permissions import OAuthPerm
from .schemas import ClientCreatedOut, ClientIn, ClientOut, ClientPatchIn, SecretOut

blp = Blueprint(
    "iam_oauth_api", __name__, url_prefix="/api/v1/oauth", description="OAuth / OpenID Connect clients"
)


@blp.route("/clients")
class Clients(MethodView):
    @auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
    @blp.response(200, ClientOut(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Registered clients"""
        page = services.list_clients(
            page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
    @blp.arguments(ClientIn)
    @blp.response(201, ClientCreatedOut)
    def post(self, data):
        """Register a client; the answer is the only time its secret is shown"""
        client, secret = services.create_client(
            data["name"],
            data["redirect_uris"],
            public=data["public"],
            grant_types=data["grant_types"],
            scope=data["scope"],
            trusted=data["trusted"],
            post_logout_redirect_uris=data["post_logout_redirect_uris"],
            created_by_id=auth.current_principal().user_id,
            can_introspect=data["can_introspect"],
            resource=data["resource"],
        )
        client.client_secret = secret  # transient: dumped into this answer, never stored
        return client


@blp.route("/clients/<client_id>")
class ClientItem(MethodView):
    @auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
    @blp.response(200, ClientOut)
    def get(self, client_id):
        """One client (never its secret)"""
        return services.get_client(client_id)

    @auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
    @blp.arguments(ClientPatchIn)
    @blp.response(200, ClientOut)
    def patch(self, data, client_id):
        """Change redirect URIs, scopes, grants, the name, introspection, resource, or disable/enable"""
        return services.update_client(client_id, data)

    @auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
    @blp.response(204)
    def delete(self, client_id):
        """Delete a client; its grants and refresh tokens go with it"""
        services.delete_client(client_id)


@blp.route("/clients/<client_id>/secret")
class ClientSecret(MethodView):
    @auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
    @blp.response(200, SecretOut)
    def post(self, client_id):
        """Rotate a confidential client's secret; the old one stops working at once"""
        client, secret = services.rotate_client_secret(client_id)
        return {"client_id": client.client_id, "client_secret": secret}
