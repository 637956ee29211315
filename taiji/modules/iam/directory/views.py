"""Console page for a tenant's upstream LDAP directory: settings and a connection test."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from taiji.platform import auth, tenancy
from taiji.platform.db import commit
from taiji.platform.errors import NotFound, ServiceError

from ..roles.permissions import Perm
from . import services

bp = Blueprint("iam_directory", __name__, template_folder="templates")
_TEXT = ("url", "bind_dn", "user_base", "user_filter", "email_attribute", "name_attribute", "group_base",
         "group_filter", "member_attribute", "default_role")


def parse_group_roles(text: str) -> dict[str, str]:
    """``group = role`` lines into a mapping; a line without ``=`` is a field error."""
    mapping = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        group, sep, role = line.partition("=")
        if not sep or not group.strip() or not role.strip():
            raise ValueError(number)
        mapping[group.strip()] = role.strip()
    return mapping


def _render(settings: dict, status: int = 200, result: dict | None = None, errors: dict | None = None):
    lines = "\n".join(f"{g} = {r}" for g, r in (settings.get("group_roles") or {}).items())
    return render_template("iam_directory/directory.html", settings=settings, group_roles_text=lines,
                           result=result, errors=errors or {}), status


@bp.get("/t/<tenant>/settings/directory")
@auth.require(Perm.DIRECTORY_WRITE)
def directory(tenant):
    return _render(services.describe(services.find_directory(tenancy.current())))


@bp.post("/t/<tenant>/settings/directory")
@auth.require(Perm.DIRECTORY_WRITE)
def save_directory(tenant):
    t = tenancy.current()
    data = {name: (request.form.get(name) or "").strip() for name in _TEXT}
    data["enabled"] = request.form.get("enabled") == "on"
    password = request.form.get("bind_password") or ""
    data["bind_password"] = password if password else None  # empty keeps the stored one
    shown = {**services.describe(services.find_directory(t)), **data}
    try:
        data["group_roles"] = parse_group_roles(request.form.get("group_roles", ""))
    except ValueError as exc:
        return _render(shown, 422, errors={"group_roles": _("Line %(n)s: write one 'group = role' per line.",
                                                            n=exc.args[0])})
    shown["group_roles"] = data["group_roles"]
    for required in ("url", "user_base"):
        if not data[required]:
            return _render(shown, 422, errors={required: _("This field is required.")})
    try:
        services.configure(t, data)
    except NotFound:
        return _render(shown, 422, errors={"group_roles": _("A role in the mapping does not exist here.")})
    except ServiceError as exc:
        field = next(iter(exc.errors or {"url": None}), "url")
        return _render(shown, 422, errors={field: _("Check this value: %(detail)s", detail=exc.detail)})
    commit()
    flash(_("Directory settings saved."), "success")
    return redirect(url_for("iam_directory.directory", tenant=t.slug))


@bp.post("/t/<tenant>/settings/directory/test")
@auth.require(Perm.DIRECTORY_WRITE)
def test_directory(tenant):
    t = tenancy.current()
    row = services.find_directory(t)
    if row is None:
        flash(_("Save the settings first, then test them."), "warning")
        return redirect(url_for("iam_directory.directory", tenant=t.slug))
    result = services.test_connection(t)
    commit()  # the audit entry of the test
    return _render(services.describe(row), 200, result=result)
