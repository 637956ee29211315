"""TM REST routes: tenants, members, invitations, quotas, audit log."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView

from taiji.modules.iam import services as iam
from taiji.platform import auth
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.db import utcnow
from taiji.platform.errors import msg
from taiji.platform.readcache import cached_read
from taiji.platform.tenancy import TenantStatus

from . import services
from .permissions import Perm
from .schemas import (
    AuditOut,
    AuditQueryIn,
    InvitationCreatedOut,
    InvitationIn,
    InvitationOut,
    InvitationQueryIn,
    MemberIn,
    MemberOut,
    MemberPatchIn,
    MemberQueryIn,
    MyInvitationOut,
    QuotaIn,
    QuotaOut,
    TenantIn,
    TenantOut,
    TenantPatchIn,
    TenantQueryIn,
)

blp = Blueprint("tm_api", __name__, url_prefix="/api/v1", description="Tenants, members, invitations, quotas")

T = "/tenants/<tenant>"


@blp.route("/tenants")
class Tenants(MethodView):
    @auth.require()
    @blp.arguments(TenantQueryIn, location="query")
    @blp.response(200, TenantOut(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """The caller's tenants (every tenant for a platform administrator)"""
        page = services.list_tenants(auth.current_principal(), search=query["q"], status=query["status"],
                                     page=pagination_parameters.page,
                                     page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.TENANT_CREATE, tenant_scoped=False)
    @blp.arguments(TenantIn)
    @blp.response(201, TenantOut)
    def post(self, data):
        """Create a tenant; the caller (or `owner_email`) becomes its owner"""
        owner_id = auth.current_principal().user_id
        if data["owner_email"]:
            owner = iam.get_user_by_email(iam.normalize_email(data["owner_email"]))
            if owner is None:
                from taiji.platform.errors import field_error

                raise field_error("owner_email", msg("No user with this email."))
            owner_id = owner.id
        return services.create_tenant(data["slug"], data["name"], owner_id=owner_id)


@blp.route(T)
class TenantItem(MethodView):
    @auth.require(Perm.TENANT_READ)
    @blp.etag
    @blp.response(200, TenantOut)
    def get(self, tenant):
        """One tenant"""
        return tenant

    @auth.require(Perm.TENANT_READ)
    @blp.etag
    @blp.arguments(TenantPatchIn)
    @blp.response(200, TenantOut)
    def patch(self, data, tenant):
        """Rename, require MFA (tm:tenant:write), suspend or reactivate (tm:tenant:suspend); needs If-Match"""
        item = tenant
        blp.check_etag(item, TenantOut)
        if "name" in data:
            if not auth.can(Perm.TENANT_WRITE, item):
                abort(403, description=f"You need the permission {Perm.TENANT_WRITE} for this.")
            services.rename_tenant(item, data["name"])
        if "status" in data:
            if not auth.can(Perm.TENANT_SUSPEND, None):
                abort(403, description=f"You need the permission {Perm.TENANT_SUSPEND} for this.")
            services.set_tenant_status(item, TenantStatus(data["status"]))
        if "mfa_required" in data:
            if not auth.can(Perm.TENANT_WRITE, item):
                abort(403, description=f"You need the permission {Perm.TENANT_WRITE} for this.")
            services.set_mfa_required(item, data["mfa_required"])
        return item


@blp.route(T + "/members")
class Members(MethodView):
    @auth.require(Perm.MEMBER_READ)
    @cached_read
    @blp.arguments(MemberQueryIn, location="query")
    @blp.response(200, MemberOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """Members with their roles"""
        page = services.list_members(tenant, search=query["q"], role=query["role"],
                                     page=pagination_parameters.page,
                                     page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.MEMBER_WRITE)
    @blp.arguments(MemberIn)
    @blp.response(202, InvitationCreatedOut)
    def post(self, data, tenant):
        """Add someone by email: they are invited, and become a member when they accept.

        The answer is the same whether or not the email has an account (as `POST .../invitations`);
        with a mail server the link is mailed to them and is not in the answer.
        """
        invitation, token = services.invite(tenant, data["email"], data["role"],
                                            actor=auth.current_principal())
        return _invitation_out(invitation, token)


@blp.route(T + "/members/<int:user_id>")
class MemberItem(MethodView):
    @auth.require(Perm.MEMBER_READ)
    @blp.response(200, MemberOut)
    def get(self, tenant, user_id):
        """One member"""
        return services.get_member(tenant, user_id)

    @auth.require(Perm.MEMBER_WRITE)
    @blp.arguments(MemberPatchIn)
    @blp.response(200, MemberOut)
    def patch(self, data, tenant, user_id):
        """Change a member's role (only owners grant or take the owner role)"""
        return services.change_role(tenant, user_id, data["role"], actor=auth.current_principal())

    @auth.require(Perm.TENANT_READ)
    @blp.response(204)
    def delete(self, tenant, user_id):
        """Remove a member (tm:member:write), or leave the tenant yourself; never the last owner"""
        principal = auth.current_principal()
        if user_id != principal.user_id and not auth.can(Perm.MEMBER_WRITE, tenant):
            abort(403, description=f"You need the permission {Perm.MEMBER_WRITE} for this.")
        services.remove_member(tenant, user_id, actor=principal)


def _invitation_out(invitation, token=None):
    out = {"id": invitation.id, "email": invitation.email, "role": invitation.role,
           "created_at": invitation.created_at, "expires_at": invitation.expires_at,
           "state": invitation.state(utcnow()), "delivery": invitation.delivery}
    if token:  # the service hands out the token only when nobody mailed it
        out["accept_url"] = services.invitation_url(token)
    return out


@blp.route(T + "/invitations")
class Invitations(MethodView):
    @auth.require(Perm.MEMBER_READ)
    @blp.arguments(InvitationQueryIn, location="query")
    @blp.response(200, InvitationOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """Pending invitations (all of them with `all=true`)"""
        page = services.list_invitations(tenant, pending_only=not query["all"],
                                         page=pagination_parameters.page,
                                         page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return [_invitation_out(i) for i in page.items]

    @auth.require(Perm.MEMBER_WRITE)
    @blp.arguments(InvitationIn)
    @blp.response(201, InvitationCreatedOut)
    def post(self, data, tenant):
        """Invite someone by email.

        With a mail server (`TAIJI_SMTP_URL`) Taiji mails the link to the address and the answer
        says `delivery: mail`, without the link. Without one the answer carries the link to send
        them (`accept_url`, shown once); an account made through such a link has an unverified email.
        """
        invitation, token = services.invite(tenant, data["email"], data["role"],
                                            actor=auth.current_principal())
        return _invitation_out(invitation, token)


@blp.route(T + "/invitations/<int:invitation_id>")
class InvitationItem(MethodView):
    @auth.require(Perm.MEMBER_WRITE)
    @blp.response(204)
    def delete(self, tenant, invitation_id):
        """Withdraw a pending invitation"""
        services.revoke_invitation(tenant, invitation_id)


@blp.route("/invitations/<token>/accept")
class InvitationAccept(MethodView):
    @auth.require(iam.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.response(200, TenantOut)
    def post(self, token):
        """Accept an invitation addressed to the caller's email (iam:account:write).

        403 while the caller's email is not verified, unless the link was mailed to it (opening a
        mailed link proves the address, and verifies it).
        """
        return services.accept_invitation(token, auth.current_principal().user_id)


@blp.route("/me/invitations")
class MyInvitations(MethodView):
    @auth.require()
    @blp.response(200, MyInvitationOut(many=True))
    def get(self):
        """Invitations waiting for the caller's answer (addressed to their email).

        Until the caller's email is verified, only that they exist: which tenant, role and inviter
        are for the address's proven owner.
        """
        user_id = auth.current_principal().user_id
        views = services.pending_invitations_for(user_id)
        if not services.can_answer_invitations(user_id):
            return [{"id": v.invitation.id, "tenant": None, "role": None, "invited_by": None,
                     "created_at": v.invitation.created_at, "expires_at": v.invitation.expires_at,
                     "can_accept": False} for v in views]
        inviters = iam.users_by_ids(v.invitation.created_by_id for v in views if v.invitation.created_by_id)
        return [{"id": v.invitation.id, "tenant": {"slug": v.tenant.slug, "name": v.tenant.name},
                 "role": v.invitation.role, "created_at": v.invitation.created_at,
                 "expires_at": v.invitation.expires_at,
                 "invited_by": getattr(inviters.get(v.invitation.created_by_id), "email", None),
                 "can_accept": True}
                for v in views]


@blp.route("/me/invitations/<int:invitation_id>/accept")
class MyInvitationAccept(MethodView):
    @auth.require(iam.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.response(200, TenantOut)
    def post(self, invitation_id):
        """Accept one of the caller's invitations: they become a member (iam:account:write; 403 while
        the caller's email is not verified)"""
        return services.accept_my_invitation(invitation_id, auth.current_principal().user_id)


@blp.route("/me/invitations/<int:invitation_id>/decline")
class MyInvitationDecline(MethodView):
    @auth.require(iam.ACCOUNT_WRITE, tenant_scoped=False)
    @blp.response(204)
    def post(self, invitation_id):
        """Decline one of the caller's invitations (iam:account:write; 403 while the caller's email
        is not verified)"""
        services.decline_my_invitation(invitation_id, auth.current_principal().user_id)


@blp.route(T + "/quotas")
class Quotas(MethodView):
    @auth.require(Perm.QUOTA_READ)
    @blp.response(200, QuotaOut(many=True))
    def get(self, tenant):
        """Each quota with its current usage and limit (null = unlimited)"""
        return services.quota_usage(tenant)


@blp.route(T + "/quotas/<name>")
class QuotaItem(MethodView):
    @auth.require(Perm.QUOTA_WRITE, tenant_scoped=False)
    @blp.arguments(QuotaIn)
    @blp.response(200, QuotaOut)
    def put(self, data, tenant, name):
        """Set a quota's limit (platform administrators); null removes the limit"""
        item = tenant
        services.set_quota(item, name, data["limit"])
        return next(q for q in services.quota_usage(item) if q["name"] == name)


@blp.route(T + "/audit")
class TenantAudit(MethodView):
    @auth.require(Perm.AUDIT_READ)
    @blp.arguments(AuditQueryIn, location="query")
    @blp.response(200, AuditOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """The tenant's audit log, newest first"""
        page = services.audit_log(tenant, action=query["action"], page=pagination_parameters.page,
                                  page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route("/audit")
class PlatformAudit(MethodView):
    @auth.require(Perm.AUDIT_READ, tenant_scoped=False)
    @blp.arguments(AuditQueryIn, location="query")
    @blp.response(200, AuditOut(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """Every tenant's audit log and the platform's own entries (platform administrators)"""
        page = services.audit_log(None, action=query["action"], page=pagination_parameters.page,
                                  page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items
