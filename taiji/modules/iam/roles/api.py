"""REST routes for a tenant's roles, groups and role bindings."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint, set_page_count

from . import services
from .permissions import Perm
from .schemas import (
    BindingIn,
    BindingOut,
    GroupIn,
    GroupMemberIn,
    GroupMemberOut,
    GroupOut,
    GroupPatchIn,
    PermissionOut,
    RoleIn,
    RoleOut,
    RolePatchIn,
)

blp = Blueprint(
    "iam_roles_api",
    __name__,
    url_prefix="/api/v1/tenants/<tenant>",
    description="Custom roles, groups and role bindings of a tenant",
)


@blp.before_request
def _resolve_path_first():
    """Look up the role and group a URL names before the body is read, so that a name this tenant
    does not have is a 404 whatever was sent."""
    args = request.view_args or {}
    tenant = tenancy.current()
    if tenant is None or auth.current_principal() is None:
        return
    if "role" in args:
        services.get_role(tenant, args["role"])
    if "group" in args:
        services.get_group(tenant, args["group"])


def _grantable(tenant) -> set[str] | None:
    """What the caller may put into a role: what they hold here (a platform administrator: anything)."""
    principal = auth.current_principal()
    return None if principal.is_admin else set(auth.access(tenant).permissions)


@blp.route("/permissions")
class Permissions(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, PermissionOut(many=True))
    def get(self, tenant):
        """The permissions a custom role may be built from"""
        return [{"name": k, "description": v} for k, v in services.assignable_permissions().items()]


@blp.route("/roles")
class Roles(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, RoleOut(many=True))
    @blp.paginate()
    def get(self, tenant, pagination_parameters):
        """Built-in and custom roles of the tenant"""
        page = services.list_roles(
            tenant, page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.ROLE_WRITE)
    @blp.arguments(RoleIn)
    @blp.response(201, RoleOut)
    def post(self, data, tenant):
        """Define a custom role from the assignable permissions"""
        return services.create_role(tenant, data, grantable=_grantable(tenant))


@blp.route("/roles/<role>")
class RoleItem(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, RoleOut)
    def get(self, tenant, role):
        """One role"""
        return services.get_role(tenant, role)

    @auth.require(Perm.ROLE_WRITE)
    @blp.arguments(RolePatchIn)
    @blp.response(200, RoleOut)
    def patch(self, data, tenant, role):
        """Change a custom role (built-in roles cannot be changed)"""
        return services.update_role(tenant, role, data, grantable=_grantable(tenant))

    @auth.require(Perm.ROLE_WRITE)
    @blp.response(204)
    def delete(self, tenant, role):
        """Delete a custom role and its bindings"""
        services.delete_role(tenant, role)


@blp.route("/roles/<role>/bindings")
class Bindings(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, BindingOut(many=True))
    @blp.paginate()
    def get(self, tenant, role, pagination_parameters):
        """Who holds the role: members and groups"""
        rows = services.list_bindings(tenant, role)
        pagination_parameters.item_count = len(rows)
        start = pagination_parameters.first_item
        return rows[start : start + pagination_parameters.page_size]

    @auth.require(Perm.ROLE_WRITE)
    @blp.arguments(BindingIn)
    @blp.response(201, BindingOut)
    def post(self, data, tenant, role):
        """Bind a member (`user_email`) or a group (`group`) to the role"""
        return services.bind(tenant, role, email=data["user_email"], group=data["group"])


@blp.route("/roles/<role>/bindings/<int:binding_id>")
class BindingItem(MethodView):
    @auth.require(Perm.ROLE_WRITE)
    @blp.response(204)
    def delete(self, tenant, role, binding_id):
        """Remove a binding"""
        services.unbind(tenant, role, binding_id)


@blp.route("/groups")
class Groups(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, GroupOut(many=True))
    @blp.paginate()
    def get(self, tenant, pagination_parameters):
        """The tenant's groups"""
        page = services.list_groups(
            tenant, page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.ROLE_WRITE)
    @blp.arguments(GroupIn)
    @blp.response(201, GroupOut)
    def post(self, data, tenant):
        """Create a group"""
        return services.create_group(tenant, data)


@blp.route("/groups/<group>")
class GroupItem(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, GroupOut)
    def get(self, tenant, group):
        """One group"""
        return services.get_group(tenant, group)

    @auth.require(Perm.ROLE_WRITE)
    @blp.arguments(GroupPatchIn)
    @blp.response(200, GroupOut)
    def patch(self, data, tenant, group):
        """Rename or describe a group"""
        return services.update_group(tenant, services.get_group(tenant, group), data)

    @auth.require(Perm.ROLE_WRITE)
    @blp.response(204)
    def delete(self, tenant, group):
        """Delete a group; its members lose what its bindings gave them"""
        services.delete_group(tenant, services.get_group(tenant, group))


@blp.route("/groups/<group>/members")
class GroupMembers(MethodView):
    @auth.require(Perm.ROLE_READ)
    @blp.response(200, GroupMemberOut(many=True))
    @blp.paginate()
    def get(self, tenant, group, pagination_parameters):
        """The group's members"""
        page = services.group_members(
            services.get_group(tenant, group),
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.ROLE_WRITE)
    @blp.arguments(GroupMemberIn)
    @blp.response(201, GroupMemberOut)
    def post(self, data, tenant, group):
        """Add a member of the tenant to the group"""
        return services.add_group_member(tenant, services.get_group(tenant, group), data["email"])


@blp.route("/groups/<group>/members/<int:user_id>")
class GroupMemberItem(MethodView):
    @auth.require(Perm.ROLE_WRITE)
    @blp.response(204)
    def delete(self, tenant, group, user_id):
        """Take a user out of the group"""
        services.remove_group_member(tenant, services.get_group(tenant, group), user_id)
