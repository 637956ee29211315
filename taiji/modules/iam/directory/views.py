"""Console pages of a tenant's upstream LDAP directory (settings, connection test, email domains)
and the platform administrators' page of domain claims."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.db import commit
from taiji.platform.errors import Conflict, NotFound
from taiji.platform.web.console import FieldErrors, field_errors, page_arg, refusals

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


def _role_missing(error: Exception) -> str | None:
    """A mapping naming a role the tenant does not have (the service's NotFound names the role)."""
    if isinstance(error, NotFound):
        return _("A role in the mapping does not exist here: %(detail)s", detail=error.detail)
    return None


def _render(tenant, settings: dict, status: int = 200, result: dict | None = None,
            errors: dict | None = None, form: FieldErrors | None = None):
    lines = "\n".join(f"{g} = {r}" for g, r in (settings.get("group_roles") or {}).items())
    claimed = domains.list_domains(tenant)
    return render_template("iam_directory/directory.html", settings=settings, group_roles_text=lines,
                           result=result, errors=errors or {}, form=form, domain_count=len(claimed),
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
    # Each refusal under the field it names; an unknown role under the mapping; the rest above the form.
    fields = FieldErrors(*_TEXT, "group_roles", "bind_password", "enabled")
    with refusals(fields, lambda error: "group_roles" if isinstance(error, NotFound) else None,
                  message=_role_missing) as outcome:
        services.configure(tenant, data)
    if not outcome.ok:
        return _render(tenant, shown, 422, errors=fields.shown, form=fields)
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
    with refusals(quiet=True) as outcome:  # every refusal is about the domain typed: shown under it
        row = domains.add_domain(tenant, typed)
    if not outcome.ok:
        already = isinstance(outcome.error, Conflict) and "domain" in field_errors(outcome.error)
        return _domains_page(tenant, outcome.status,
                             _("This domain is on the list already.") if already else outcome.message, typed)
    commit()
    flash(_("Domain %(domain)s added. Publish the TXT record below, then check it.", domain=row.domain),
          "success")
    return redirect(url_for("iam_directory.domain_list", tenant=tenant.slug))


@bp.post("/t/<tenant>/settings/directory/domains/<domain>/verify")
@auth.require(Perm.DOMAIN_WRITE)
def verify_domain(tenant, domain):
    with refusals(quiet=True, passes=(NotFound,)) as outcome:
        row = domains.verify_dns(tenant, domain)
    if not outcome.ok:  # verified by another tenant meanwhile
        return _domains_page(tenant, outcome.status, outcome.message)
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
    with refusals(passes=(NotFound,)) as outcome:  # taken by another tenant meanwhile: said in a flash
        row = domains.approve(domain_id, auth.current_principal().email)
    if not outcome.ok:
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
