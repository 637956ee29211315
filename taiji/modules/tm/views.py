"""TM console pages: start page, tenant overview, members, invitations, audit, settings,
tenant administration, and accepting an invitation."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from taiji.modules.iam import services as iam
from taiji.platform import audit_sentences, auth, mail
from taiji.platform import overview as tenant_overview
from taiji.platform.db import utcnow
from taiji.platform.errors import Conflict, Forbidden, NotFound
from taiji.platform.quotas import QuotaExceeded
from taiji.platform.tenancy import TenantStatus
from taiji.platform.web.console import field_errors, page_arg, refusals
from taiji.platform.web.messages import password_problem, quota_problem

from . import services
from .forms import ROLE_CHOICES, InviteForm, RegisterForm, RenameForm, TenantForm
from .permissions import Perm

bp = Blueprint("tm", __name__, template_folder="templates")
INVITATIONS_PAGE = 50  # pending invitations on one page of the members page (paged by ?invitations_page=)


def _member_problem(error: Exception) -> str | None:
    """The console's wording for a refused membership change, where it says more than the service's
    (None: the service's own message, in the reader's language, under its field)."""
    if isinstance(error, QuotaExceeded):
        return quota_problem(error)
    if isinstance(error, Forbidden):
        return _("Only an owner can make someone an owner, or change or remove an owner.")
    if isinstance(error, Conflict) and "last owner" in error.english:
        return _("This is the tenant's last owner. Make another member an owner first.")
    if isinstance(error, Conflict) and "already a member" in error.english:
        return _("This person is already a member.")
    if "email" in field_errors(error):
        return _("Enter a valid email address.")
    if isinstance(error, NotFound):
        return _("This member is no longer in the tenant.")
    if "role" in field_errors(error):
        return _("Choose one of the roles offered.")
    return None


def _invitation_problem(error: Exception) -> str | None:
    """The console's wording for a refused answer to an invitation (None: the service's own)."""
    if isinstance(error, QuotaExceeded):
        return quota_problem(error)
    if isinstance(error, services.UnverifiedEmail):
        return _("Verify your email address to accept this invitation.")
    if isinstance(error, Forbidden):
        return _("This invitation is for another email address. Sign out, then open the link again.")
    if not isinstance(error, Conflict | NotFound):
        return None
    if "suspended" in error.english:
        return _("This tenant is suspended; the invitation cannot be accepted now.")
    if "exists" in error.english:
        return _("An account with this email address exists; sign in to accept.")
    return _("This invitation can no longer be accepted. Ask for a new one.")


@bp.get("/")
@auth.public  # the anonymous are sent to the sign-in page
def home():
    principal = auth.current_principal()
    if principal is None:
        return redirect(url_for("iam.login"))
    tenants = services.list_tenants(principal, page=1, page_size=50)
    mine = [t for t in tenants.items if t.id in set(iam.tenant_ids_of(principal.user_id))]
    invitations = services.pending_invitations_for(principal.user_id)
    # Someone with one tenant goes straight into it, unless invitations wait for an answer here.
    if len(mine) == 1 and not principal.is_admin and not invitations:
        return redirect(url_for("tm.overview", tenant=mine[0].slug))
    return render_template("tm/home.html", tenants=mine, invitations=invitations, roles=dict(ROLE_CHOICES),
                           verified=services.can_answer_invitations(principal.user_id))


@bp.get("/invitations")
@auth.require_login
def my_invitations():
    """The signed-in user's pending invitations, to accept or decline (no link needed).

    Until the user's email is verified the page says only that invitations wait, and how to
    verify: which tenant invited the address is for its proven owner."""
    user_id = auth.current_principal().user_id
    views = services.pending_invitations_for(user_id)
    verified = services.can_answer_invitations(user_id)
    inviters = iam.users_by_ids(v.invitation.created_by_id for v in views if v.invitation.created_by_id) \
        if verified else {}
    return render_template("tm/my_invitations.html", invitations=views, inviters=inviters,
                           roles=dict(ROLE_CHOICES), verified=verified, mail_available=mail.configured())


@bp.post("/invitations/<int:invitation_id>/accept")
@auth.require(iam.ACCOUNT_WRITE, tenant_scoped=False)
def accept_my_invitation(invitation_id):
    # Someone else's invitation is unknown: the 404 page, as if it did not exist.
    with refusals(message=_invitation_problem, passes=(NotFound,)) as outcome:
        t = services.accept_my_invitation(invitation_id, auth.current_principal().user_id)
    if not outcome.ok:
        return redirect(url_for("tm.my_invitations"))
    flash(_("Welcome to %(name)s.", name=t.name), "success")
    return redirect(url_for("tm.overview", tenant=t.slug))


@bp.post("/invitations/<int:invitation_id>/decline")
@auth.require(iam.ACCOUNT_WRITE, tenant_scoped=False)
def decline_my_invitation(invitation_id):
    with refusals(message=_invitation_problem, passes=(NotFound,)) as outcome:
        services.decline_my_invitation(invitation_id, auth.current_principal().user_id)
    if outcome.ok:
        flash(_("Invitation declined."), "success")
    return redirect(url_for("tm.my_invitations"))


@bp.get("/t/<tenant>/")
@auth.require(Perm.TENANT_READ)
def overview(tenant):
    """The tenant's facts and quotas, what needs attention and the modules' panels (overview.py)."""
    principal = auth.current_principal()
    return render_template("tm/overview.html", quotas=services.quota_usage(tenant),
                           members=services.count_members(tenant),
                           attention=tenant_overview.attention(tenant, principal),
                           panels=tenant_overview.panels(tenant, principal))


@bp.get("/t/<tenant>/members")
@auth.require(Perm.MEMBER_READ)
def members(tenant):
    page = services.list_members(tenant, search=request.args.get("q"), page=page_arg())
    invitations = services.list_invitations(tenant, page=page_arg("invitations_page"),
                                            page_size=INVITATIONS_PAGE)
    return render_template("tm/members.html", page=page, invitations=invitations,
                           form=InviteForm(), roles=ROLE_CHOICES, now=utcnow(),
                           new_invitation=session.pop("new_invitation", None),
                           mail_available=mail.configured())


@bp.post("/t/<tenant>/invitations")
@auth.require(Perm.MEMBER_WRITE)
def invite(tenant):
    form = InviteForm()
    if form.validate_on_submit():
        # A refusal of the role asked for shows under the role, anything else under the address.
        about_role = lambda error: isinstance(error, Forbidden) or "role" in field_errors(error)  # noqa: E731
        with refusals(form, lambda error: "role" if about_role(error) else "email",
                      message=_member_problem) as outcome:
            invitation, token = services.invite(tenant, form.email.data, form.role.data,
                                                actor=auth.current_principal())
        if outcome.ok:
            if token is None:
                # Mailed to the address only: the inviter never sees the link.
                flash(_("Invitation sent by mail to %(email)s.", email=invitation.email), "success")
            else:
                # The link is shown once, on the page that follows; only its hash is stored.
                session["new_invitation"] = {"email": invitation.email, "url": services.invitation_url(token)}
                flash(_("Invitation created for %(email)s.", email=invitation.email), "success")
            return redirect(url_for("tm.members", tenant=tenant.slug))
    page = services.list_members(tenant, page=1)
    invitations = services.list_invitations(tenant, page=1, page_size=INVITATIONS_PAGE)
    return render_template("tm/members.html", page=page, invitations=invitations, form=form,
                           roles=ROLE_CHOICES, now=utcnow(), mail_available=mail.configured()), 422


@bp.post("/t/<tenant>/invitations/<int:invitation_id>/revoke")
@auth.require(Perm.MEMBER_WRITE)
def revoke_invitation(tenant, invitation_id):
    only_pending = lambda error: _("Only a pending invitation can be withdrawn.")  # noqa: E731
    with refusals(message=only_pending, passes=(NotFound,)) as outcome:
        services.revoke_invitation(tenant, invitation_id)
    if outcome.ok:
        flash(_("Invitation withdrawn."), "success")
    return redirect(url_for("tm.members", tenant=tenant))


@bp.post("/t/<tenant>/members/<int:user_id>/role")
@auth.require(Perm.MEMBER_WRITE)
def change_role(tenant, user_id):
    services.get_member(tenant, user_id)  # someone not in this tenant is a 404, not a flash
    with refusals(message=_member_problem) as outcome:
        services.change_role(tenant, user_id, request.form.get("role", ""),
                             actor=auth.current_principal())
    if outcome.ok:
        flash(_("Role changed."), "success")
    return redirect(url_for("tm.members", tenant=tenant))


@bp.post("/t/<tenant>/members/<int:user_id>/remove")
@auth.require(Perm.TENANT_READ)
def remove_member(tenant, user_id):
    principal = auth.current_principal()
    if user_id != principal.user_id and not auth.can(Perm.MEMBER_WRITE, tenant):
        abort(403)
    services.get_member(tenant, user_id)  # someone not in this tenant is a 404, not a flash
    with refusals(message=_member_problem) as outcome:
        services.remove_member(tenant, user_id, actor=principal)
    if not outcome.ok:
        return redirect(url_for("tm.members", tenant=tenant))
    if user_id == principal.user_id:
        flash(_("You left %(name)s.", name=tenant.name), "success")
        return redirect(url_for("tm.home"))
    flash(_("Member removed."), "success")
    return redirect(url_for("tm.members", tenant=tenant))


@bp.get("/t/<tenant>/audit")
@auth.require(Perm.AUDIT_READ)
def audit_log(tenant):
    """The tenant's audit entries as sentences, filtered by actor, action and dates, paged."""
    filters = {key: (request.args.get(key) or "").strip() for key in ("actor", "action", "since", "until")}
    start, end = _day(filters["since"]), _day(filters["until"])
    for key, day in (("since", start), ("until", end)):
        if day is None:
            filters[key] = ""  # not a date: no filter (the field shows empty)
    page = services.audit_log(tenant, action=filters["action"] or None, actor=filters["actor"] or None,
                              since=start, until=end + dt.timedelta(days=1) if end else None, page=page_arg())
    return render_template("tm/audit.html", page=page, filters=filters, describe=audit_sentences.describe,
                           target_url=audit_sentences.target_url, actions=audit_sentences.known_actions(),
                           filtered=any(filters.values()))


def _day(text: str) -> dt.datetime | None:
    """A day from a date field (YYYY-MM-DD) as its first moment in UTC; None when empty or not a date."""
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC) if text else None
    except ValueError:
        return None


@bp.route("/t/<tenant>/settings", methods=["GET", "POST"])
@auth.require(Perm.TENANT_WRITE)
def settings(tenant):
    form = RenameForm(obj=tenant)
    if form.validate_on_submit():
        too_long = lambda error: _("Enter a name of at most 100 characters.")  # noqa: E731
        with refusals(form, "name", message=too_long) as outcome:
            services.rename_tenant(tenant, form.name.data)
        if outcome.ok:
            services.set_mfa_required(tenant, bool(form.mfa_required.data))
            flash(_("Settings saved."), "success")
            return redirect(url_for("tm.settings", tenant=tenant.slug))
    return render_template("tm/settings.html", form=form), 422 if form.errors else 200


@bp.get("/admin/tenants")
@auth.require(Perm.TENANT_CREATE, tenant_scoped=False)
def admin_tenants():
    page = services.list_tenants(auth.current_principal(), search=request.args.get("q"), page=page_arg())
    return render_template("tm/admin_tenants.html", page=page, form=TenantForm())


@bp.post("/admin/tenants")
@auth.require(Perm.TENANT_CREATE, tenant_scoped=False)
def create_tenant():
    form = TenantForm()
    if form.validate_on_submit():
        with refusals(form, lambda error: "slug" if _tenant_problem(error) else None,
                      message=_tenant_problem) as outcome:
            t = services.create_tenant(form.slug.data, form.name.data,
                                       owner_id=auth.current_principal().user_id)
        if outcome.ok:
            flash(_("Tenant %(name)s created.", name=t.name), "success")
            return redirect(url_for("tm.overview", tenant=t.slug))
    page = services.list_tenants(auth.current_principal(), page=1)
    return render_template("tm/admin_tenants.html", page=page, form=form, show_form=True), 422


def _tenant_problem(error: Exception) -> str | None:
    """A taken or reserved slug, said with what to do; the service's other refusals (the slug's
    rule, the name) go under their fields, anything else at the top of the page."""
    if isinstance(error, Conflict) and "slug" in field_errors(error):
        return _("This slug is taken; choose another.")
    if "slug" in field_errors(error) and "reserved" in error.english:
        return _("This slug is reserved; choose another.")
    return None


@bp.post("/admin/tenants/<slug>/status")
@auth.require(Perm.TENANT_SUSPEND, tenant_scoped=False)
def tenant_status(slug):
    status = request.form.get("status")
    if status not in {s.value for s in TenantStatus}:
        abort(400, description=_("Unknown tenant status."))
    t = services.get_tenant(slug)
    services.set_tenant_status(t, TenantStatus(status))
    flash(_("Tenant suspended.") if status == "suspended" else _("Tenant reactivated."), "success")
    return redirect(url_for("tm.admin_tenants"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@auth.public  # the token in the address is the credential; accepting signs in first
def invitation(token):
    try:
        view = services.find_invitation(token)
    except NotFound:  # an unknown or spent link: its own page, with what to do
        return render_template("tm/invitation.html", view=None), 404
    principal = auth.current_principal()
    form = RegisterForm()

    # Whoever holds the link (the inviter too) sees the same page whether or not the address has
    # an account: both ways to accept are offered, signing in and creating the account.
    def page(status=200):
        # Whether the signed-in user may accept: a verified address, or a link that came by mail.
        may_accept = (principal is None or principal.email != view.invitation.email
                      or view.invitation.delivery == "mail"
                      or services.can_answer_invitations(principal.user_id))
        return render_template("tm/invitation.html", view=view, form=form, roles=dict(ROLE_CHOICES),
                               may_accept=may_accept, mail_available=mail.configured()), status

    if request.method != "POST":
        return page()
    if principal is not None and not auth.can(iam.ACCOUNT_WRITE):
        abort(403)
    if principal is None and not form.validate_on_submit():
        return page(422)

    def wording(error):
        if "password" in field_errors(error):
            return password_problem(form.password.data)
        return _invitation_problem(error)

    # A refused password shows under it; any other refusal at the top of the page.
    with refusals(form, lambda error: "password" if "password" in field_errors(error) else None,
                  message=wording) as outcome:
        if principal is not None:
            t = services.accept_invitation(token, principal.user_id)
        else:
            user, t = services.register_and_accept(token, form.name.data, form.password.data)
            iam.start_session(user)
    if not outcome.ok:
        return page(outcome.status)
    flash(_("Welcome to %(name)s.", name=t.name), "success")
    return redirect(url_for("tm.overview", tenant=t.slug))
