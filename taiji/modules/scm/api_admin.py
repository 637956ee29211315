"""SCM REST routes, part three: component schemas, environment policies and access keys."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth

from . import services
from .api import T, blp
from .permissions import Perm
from .schemas import (
    ScmAccessKeyCreatedOut,
    ScmAccessKeyIn,
    ScmAccessKeyOut,
    ScmPolicyIn,
    ScmPolicyOut,
    ScmSchemaIO,
)


@blp.route(T + "/config/<component>/schema")
class SchemaView(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmSchemaIO)
    def get(self, tenant, component):
        """The JSON Schema the component's resolved `application` namespace must satisfy (null: none)"""
        return {"schema": services.get_schema(tenant, component)}

    @auth.require(Perm.ADMIN)
    @blp.arguments(ScmSchemaIO)
    @blp.response(200, ScmSchemaIO)
    def put(self, data, tenant, component):
        """Declare the schema (Draft 2020-12; an invalid schema is a 422); null drops it"""
        return {"schema": services.set_schema(tenant, auth.current_principal(), component, data["schema"])}

    @auth.require(Perm.ADMIN)
    @blp.response(204)
    def delete(self, tenant, component):
        """Drop the schema"""
        services.set_schema(tenant, auth.current_principal(), component, None)


@blp.route(T + "/config-policies")
class Policies(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmPolicyOut(many=True))
    def get(self, tenant):
        """Environments' publishing policies (an environment not listed needs no second person)"""
        return services.list_policies(tenant)


@blp.route(T + "/config-policies/<environment>")
class PolicyView(MethodView):
    @auth.require(Perm.ADMIN)
    @blp.arguments(ScmPolicyIn)
    @blp.response(200, ScmPolicyOut)
    def put(self, data, tenant, environment):
        """Require a second person to approve each release of the environment (four eyes), or not"""
        return services.set_policy(tenant, auth.current_principal(), environment, data["four_eyes"])


@blp.route(T + "/config-keys")
class AccessKeys(MethodView):
    @auth.require(Perm.ADMIN)
    @blp.response(200, ScmAccessKeyOut(many=True))
    def get(self, tenant):
        """Active access keys: each reads every component's configuration of its environment"""
        return services.list_access_keys(tenant)

    @auth.require(Perm.ADMIN)
    @blp.arguments(ScmAccessKeyIn)
    @blp.response(201, ScmAccessKeyCreatedOut)
    def post(self, data, tenant):
        """Create an access key; its token is shown in this answer only"""
        key, token = services.create_access_key(tenant, auth.current_principal(), data["environment"],
                                                data["description"])
        key.token = token
        return key


@blp.route(T + "/config-keys/<int:access_key_id>")
class AccessKeyView(MethodView):
    @auth.require(Perm.ADMIN)
    @blp.response(204)
    def delete(self, tenant, access_key_id):
        """Revoke an access key"""
        key = services.get_access_key(tenant, access_key_id)
        services.revoke_access_key(tenant, auth.current_principal(), key)
