"""Console pages for a tenant's roles, groups and bindings."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from taiji.platform import auth
from taiji.platform.db import commit
from taiji.platform.errors import Conflict, NotFound, ServiceError, msg
from taiji.platform.web.console import page_arg, refusals
from taiji.platform.web.text import register_labels

from . import services
from .permissions import Perm

bp = Blueprint("iam_roles", __name__, template_folder="templates")

# The built-in roles in the reader's words (their names are English, for the API).
BUILTIN_ROLE_LABELS = {"owner": _l("Owner"), "admin": _l("Admin"), "member": _l("Member"),
                       "viewer": _l("Viewer")}
bp.record_once(lambda state: register_labels(state.app, "iam.role", BUILTIN_ROLE_LABELS))


@bp.before_request
def _resolve_path_first():
    """A role, group or binding this tenant does not have is a 404 before any form is read."""
    args = request.view_args or {}
    t = args.get("tenant")
    if t is None or auth.current_principal() is None:
        return
    if "role" in args:
        services.get_role(t, args["role"])
        if "binding_id" in args and not any(
            b["id"] == args["binding_id"] for b in services.list_bindings(t, args["role"])
        ):
            raise NotFound(msg("No binding %(binding_id)s.", binding_id=args['binding_id']))
    if "group" in args:
        services.get_group(t, args["group"])


def _problem(error: ServiceError) -> str:
    """The console's wording for a refused change (services word theirs for the API)."""
    if isinstance(error, Conflict) and "built-in" in error.english:
        return _("Built-in roles cannot be changed.")
    if isinstance(error, Conflict):
        return _("That key is already taken.")
    if isinstance(error, NotFound):
        return _("It no longer exists.")
    fields = str(error.errors or "")
    if "not a member" in error.english:
        return _("Only members of this tenant can be added.")
    if "key" in fields:
        return _("Use 2-50 lowercase letters, digits and dashes for the key.")
    if "permissions" in fields:
        return _("Choose only permissions you hold yourself.")
    if "name" in fields:
        return _("Enter a name.")
    return _("Enter either a member's email or a group.")


def _attempt(work, success: str) -> None:
    with refusals(category="danger", message=_problem) as outcome:
        work()
    if outcome.ok:
        commit()
        flash(success, "success")


def _grantable(tenant):
    principal = auth.current_principal()
    return None if principal.is_admin else set(auth.access(tenant).permissions)


@bp.get("/t/<tenant>/roles")
@auth.require(Perm.ROLE_READ)
def roles(tenant):
    return render_template(
        "iam_roles/roles.html",
        page=services.list_roles(tenant, page=page_arg()),
        permissions=services.assignable_permissions(),
    )


@bp.post("/t/<tenant>/roles")
@auth.require(Perm.ROLE_WRITE)
def create_role(tenant):
    data = {
        "key": request.form.get("key", ""),
        "name": request.form.get("name", ""),
        "description": request.form.get("description", ""),
        "permissions": request.form.getlist("permissions"),
    }
    _attempt(lambda: services.create_role(tenant, data, grantable=_grantable(tenant)), _("Role created."))
    return redirect(url_for("iam_roles.roles", tenant=tenant.slug))


@bp.get("/t/<tenant>/roles/<role>")
@auth.require(Perm.ROLE_READ)
def role(tenant, role):
    return render_template(
        "iam_roles/role.html",
        role=services.get_role(tenant, role),
        bindings=services.list_bindings(tenant, role),
        permissions=services.assignable_permissions(),
        groups=services.list_groups(tenant, page_size=100).items,
    )


@bp.post("/t/<tenant>/roles/<role>")
@auth.require(Perm.ROLE_WRITE)
def update_role(tenant, role):
    data = {
        "name": request.form.get("name", ""),
        "description": request.form.get("description", ""),
        "permissions": request.form.getlist("permissions"),
    }
    _attempt(lambda: services.update_role(tenant, role, data, grantable=_grantable(tenant)), _("Role saved."))
    return redirect(url_for("iam_roles.role", tenant=tenant.slug, role=role))


@bp.post("/t/<tenant>/roles/<role>/delete")
@auth.require(Perm.ROLE_WRITE)
def delete_role(tenant, role):
    _attempt(lambda: services.delete_role(tenant, role), _("Role deleted."))
    return redirect(url_for("iam_roles.roles", tenant=tenant.slug))


@bp.post("/t/<tenant>/roles/<role>/bindings")
@auth.require(Perm.ROLE_WRITE)
def bind(tenant, role):
    _attempt(
        lambda: services.bind(
            tenant, role, email=request.form.get("user_email") or None,
            group=request.form.get("group") or None,
        ),
        _("Binding added."),
    )
    return redirect(url_for("iam_roles.role", tenant=tenant.slug, role=role))


@bp.post("/t/<tenant>/roles/<role>/bindings/<int:binding_id>/delete")
@auth.require(Perm.ROLE_WRITE)
def unbind(tenant, role, binding_id):
    _attempt(lambda: services.unbind(tenant, role, binding_id), _("Binding removed."))
    return redirect(url_for("iam_roles.role", tenant=tenant.slug, role=role))


@bp.get("/t/<tenant>/groups")
@auth.require(Perm.ROLE_READ)
def groups(tenant):
    return render_template(
        "iam_roles/groups.html", page=services.list_groups(tenant, page=page_arg())
    )


@bp.post("/t/<tenant>/groups")
@auth.require(Perm.ROLE_WRITE)
def create_group(tenant):
    data = {k: request.form.get(k, "") for k in ("key", "name", "description")}
    _attempt(lambda: services.create_group(tenant, data), _("Group created."))
    return redirect(url_for("iam_roles.groups", tenant=tenant.slug))


@bp.get("/t/<tenant>/groups/<group>")
@auth.require(Perm.ROLE_READ)
def group(tenant, group):
    row = services.get_group(tenant, group)
    return render_template("iam_roles/group.html", group=row,
                           page=services.group_members(row, page=page_arg()))


@bp.post("/t/<tenant>/groups/<group>/members")
@auth.require(Perm.ROLE_WRITE)
def add_member(tenant, group):
    row = services.get_group(tenant, group)
    _attempt(lambda: services.add_group_member(tenant, row, request.form.get("email", "")),
             _("Member added."))
    return redirect(url_for("iam_roles.group", tenant=tenant.slug, group=group))


@bp.post("/t/<tenant>/groups/<group>/members/<int:user_id>/delete")
@auth.require(Perm.ROLE_WRITE)
def remove_member(tenant, group, user_id):
    row = services.get_group(tenant, group)
    _attempt(lambda: services.remove_group_member(tenant, row, user_id), _("Member removed."))
    return redirect(url_for("iam_roles.group", tenant=tenant.slug, group=group))


@bp.post("/t/<tenant>/groups/<group>/delete")
@auth.require(Perm.ROLE_WRITE)
def delete_group(tenant, group):
    row = services.get_group(tenant, group)
    _attempt(lambda: services.delete_group(tenant, row), _("Group deleted."))
    return redirect(url_for("iam_roles.groups", tenant=tenant.slug))
