"""Console pages of a tenant's upstream LDAP directory (settings, connection test, email domains)
and the platform administrators' page of domain claims."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.db import commit
from taiji.platform.errors import Conflict, NotFound, ServiceError
from taiji.platform.web.console import page_arg

from ..roles.permissions import Perm
from . import domains, services
from .models import DomainStatus

bp = Blueprint("iam_directory", __name__, template_folder="templates")
admin_bp = Blueprint("iam_domains_admin", __name__, template_folder="templates")
_TEXT = ("url", "bind_dn", "user_base", "user_filter", "email_attribute", "name_attribute", "group_base",
         "group_filter", "member_attribute", "default_role", "ca_certificate")


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


def _field_of(exc: ServiceError, default: str) -> str:
    """The form field a service's field error is about (``errors = {"json": {field: [...]}}``)."""
    fields = (exc.errors or {}).get("json") or {}
    return next(iter(fields), default)


def _render(tenant, settings: dict, status: int = 200, result: dict | None = None,
            errors: dict | None = None):
    lines = "\n".join(f"{g} = {r}" for g, r in (settings.get("group_roles") or {}).items())
    claimed = domains.list_domains(tenant)
    return render_template("iam_directory/directory.html", settings=settings, group_roles_text=lines,
                           result=result, errors=errors or {}, domain_count=len(claimed),
                           verified_count=sum(d.status == DomainStatus.VERIFIED for d in claimed)), status


@bp.get("/t/<tenant>/settings/directory")
@auth.require(Perm.DIRECTORY_WRITE)
def directory(tenant):
    return _render(tenant, services.describe(services.find_directory(tenant)))


@bp.post("/t/<tenant>/settings/directory")
@auth.require(Perm.DIRECTORY_WRITE)
def save_directory(tenant):
    data = {name: (request.form.get(name) or "").strip() for name in _TEXT}
    data["enabled"] = request.form.get("enabled") == "on"
    password = request.form.get("bind_password") or ""
    data["bind_password"] = password if password else None  # empty keeps the stored one
    shown = {**services.describe(services.find_directory(tenant)), **data}
    try:
        data["group_roles"] = parse_group_roles(request.form.get("group_roles", ""))
    except ValueError as exc:
        return _render(tenant, shown, 422, errors={
            "group_roles": _("Line %(n)s: write one 'group = role' per line.", n=exc.args[0])})
    shown["group_roles"] = data["group_roles"]
    for required in ("url", "user_base"):
        if not data[required]:
            return _render(tenant, shown, 422, errors={required: _("This field is required.")})
    try:
        services.configure(tenant, data)
    except NotFound:
        return _render(tenant, shown, 422,
                       errors={"group_roles": _("A role in the mapping does not exist here.")})
    except ServiceError as exc:
        field = _field_of(exc, "url")
        return _render(tenant, shown, 422,
                       errors={field: _("Check this value: %(detail)s", detail=exc.detail)})
    commit()
    flash(_("Directory settings saved."), "success")
    return redirect(url_for("iam_directory.directory", tenant=tenant.slug))


@bp.post("/t/<tenant>/settings/directory/test")
@auth.require(Perm.DIRECTORY_WRITE)
def test_directory(tenant):
    row = services.find_directory(tenant)
    if row is None:
        flash(_("Save the settings first, then test them."), "warning")
        return redirect(url_for("iam_directory.directory", tenant=tenant.slug))
    result = services.test_connection(tenant)
    commit()  # the audit entry of the test
    return _render(tenant, services.describe(row), 200, result=result)


# -- the tenant's email domains ----------------------------------------------------------------


def _domains_page(tenant, status: int = 200, error: str | None = None, typed: str = ""):
    return render_template("iam_directory/domains.html", domains=domains.list_domains(tenant), error=error,
                           typed=typed, can_write=auth.can(Perm.DOMAIN_WRITE, tenant),
                           record_name=domains.record_name, record_value=domains.record_value), status


@bp.get("/t/<tenant>/settings/directory/domains")
@auth.require(Perm.DIRECTORY_WRITE)
def domain_list(tenant):
    return _domains_page(tenant)


@bp.post("/t/<tenant>/settings/directory/domains")
@auth.require(Perm.DOMAIN_WRITE)
def add_domain(tenant):
    typed = (request.form.get("domain") or "").strip()
    try:
        row = domains.add_domain(tenant, typed)
    except Conflict:
        return _domains_page(tenant, 409, _("This domain is on the list already."), typed)
    except ServiceError as exc:
        return _domains_page(tenant, 422, exc.detail, typed)
    commit()
    flash(_("Domain %(domain)s added. Publish the TXT record below, then check it.", domain=row.domain),
          "success")
    return redirect(url_for("iam_directory.domain_list", tenant=tenant.slug))


@bp.post("/t/<tenant>/settings/directory/domains/<domain>/verify")
@auth.require(Perm.DOMAIN_WRITE)
def verify_domain(tenant, domain):
    try:
        row = domains.verify_dns(tenant, domain)
    except Conflict as exc:
        return _domains_page(tenant, 409, exc.detail)
    commit()
    if row.status == DomainStatus.VERIFIED:
        flash(_("%(domain)s is verified: the directory may now sign in its new users.", domain=row.domain),
              "success")
    else:
        flash(_("%(domain)s is not verified yet: %(reason)s", domain=row.domain, reason=row.last_error or ""),
              "warning")
    return redirect(url_for("iam_directory.domain_list", tenant=tenant.slug))


@bp.post("/t/<tenant>/settings/directory/domains/<domain>/delete")
@auth.require(Perm.DOMAIN_WRITE)
def remove_domain(tenant, domain):
    domains.remove_domain(tenant, domain)
    commit()
    flash(_("Domain removed."), "success")
    return redirect(url_for("iam_directory.domain_list", tenant=tenant.slug))


# -- platform administrators -------------------------------------------------------------------


@admin_bp.get("/admin/domains")
@auth.require(Perm.DOMAIN_APPROVE, tenant_scoped=False)
def claims():
    status = request.args.get("status") or None
    if status not in (None, DomainStatus.PENDING, DomainStatus.VERIFIED):
        abort(400, description=_("Unknown status."))
    page = domains.list_claims(status, page=page_arg())
    return render_template("iam_directory/claims.html", page=page, claims=domains.describe_claims(page.items),
                           status=status)


@admin_bp.post("/admin/domains/<int:domain_id>/approve")
@auth.require(Perm.DOMAIN_APPROVE, tenant_scoped=False)
def approve_claim(domain_id):
    try:
        row = domains.approve(domain_id, auth.current_principal().email)
    except Conflict as exc:
        flash(exc.detail, "error")
        return redirect(url_for("iam_domains_admin.claims"))
    commit()
    flash(_("%(domain)s is verified for its tenant.", domain=row.domain), "success")
    return redirect(url_for("iam_domains_admin.claims"))


@admin_bp.post("/admin/domains/<int:domain_id>/revoke")
@auth.require(Perm.DOMAIN_APPROVE, tenant_scoped=False)
def revoke_claim(domain_id):
    domains.revoke(domain_id)
    commit()
    flash(_("Claim removed."), "success")
    return redirect(url_for("iam_domains_admin.claims"))
