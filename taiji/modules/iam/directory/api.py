"""REST routes for a tenant's upstream directory settings."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint

from ..roles.permissions import Perm
from . import services
from .schemas import DirectoryIn, DirectoryOut, DirectoryTestOut

blp = Blueprint(
    "iam_directory_api",
    __name__,
    url_prefix="/api/v1/tenants/<tenant>",
    description="Sign-in through a tenant's upstream LDAP directory",
)


@blp.route("/directory")
class DirectoryItem(MethodView):
    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(200, DirectoryOut)
    def get(self, tenant):
        """The directory settings (the bind password is never shown)"""
        return services.describe(services.find_directory(tenancy.current()))

    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.arguments(DirectoryIn)
    @blp.response(200, DirectoryOut)
    def put(self, data, tenant):
        """Create or replace the directory settings"""
        return services.describe(services.configure(tenancy.current(), data))

    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(204)
    def delete(self, tenant):
        """Stop signing in through the directory (accounts it created stay)"""
        services.remove(tenancy.current())


@blp.route("/directory/test")
class DirectoryTest(MethodView):
    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(200, DirectoryTestOut)
    def post(self, tenant):
        """Try the saved settings: bind as the service account and count the users the filter finds"""
        return services.test_connection(tenancy.current())
