"""REST routes for a tenant's upstream directory, its email domains, and the administrators'
approval of domains."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.api import Blueprint, set_page_count

from ..roles.permissions import Perm
from . import domains, services
from .schemas import (
    DirectoryIn,
    DirectoryOut,
    DirectoryTestOut,
    DomainClaimOut,
    DomainClaimQueryIn,
    DomainIn,
    DomainOut,
)

blp = Blueprint(
    "iam_directory_api",
    __name__,
    url_prefix="/api/v1/tenants/<tenant>",
    description="Sign-in through a tenant's upstream LDAP directory",
)
admin_blp = Blueprint(
    "iam_domains_admin_api",
    __name__,
    url_prefix="/api/v1",
    description="Email domains tenants claim for their directories (platform administrators)",
)


@blp.route("/directory")
class DirectoryItem(MethodView):
    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(200, DirectoryOut)
    def get(self, tenant):
        """The directory settings (the bind password is never shown)"""
        return services.describe(services.find_directory(tenant))

    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.arguments(DirectoryIn)
    @blp.response(200, DirectoryOut)
    def put(self, data, tenant):
        """Create or replace the directory settings"""
        return services.describe(services.configure(tenant, data))

    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(204)
    def delete(self, tenant):
        """Stop signing in through the directory (accounts it created stay)"""
        services.remove(tenant)


@blp.route("/directory/test")
class DirectoryTest(MethodView):
    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(200, DirectoryTestOut)
    def post(self, tenant):
        """Try the saved settings: bind as the service account and count the users the filter finds"""
        return services.test_connection(tenant)


@blp.route("/directory/domains")
class DomainList(MethodView):
    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(200, DomainOut(many=True))
    def get(self, tenant):
        """The email domains this tenant claims; its directory creates accounts only in verified ones"""
        return [domains.describe(row) for row in domains.list_domains(tenant)]

    @auth.require(Perm.DOMAIN_WRITE)
    @blp.arguments(DomainIn)
    @blp.response(201, DomainOut)
    def post(self, data, tenant):
        """Claim a domain; the answer names the DNS TXT record that proves it"""
        return domains.describe(domains.add_domain(tenant, data["domain"]))


@blp.route("/directory/domains/<domain>")
class DomainItem(MethodView):
    @auth.require(Perm.DIRECTORY_WRITE)
    @blp.response(200, DomainOut)
    def get(self, tenant, domain):
        """One claimed domain"""
        return domains.describe(domains.get_domain(tenant, domain))

    @auth.require(Perm.DOMAIN_WRITE)
    @blp.response(204)
    def delete(self, tenant, domain):
        """Give the domain up (accounts made through it stay)"""
        domains.remove_domain(tenant, domain)


@blp.route("/directory/domains/<domain>/verify")
class DomainVerify(MethodView):
    @auth.require(Perm.DOMAIN_WRITE)
    @blp.response(200, DomainOut)
    def post(self, tenant, domain):
        """Look for the TXT record now; ``status`` says whether it was found, ``last_error`` why not"""
        return domains.describe(domains.verify_dns(tenant, domain))


@admin_blp.route("/directory-domains")
class DomainClaims(MethodView):
    @auth.require(Perm.DOMAIN_APPROVE, tenant_scoped=False)
    @admin_blp.arguments(DomainClaimQueryIn, location="query")
    @admin_blp.response(200, DomainClaimOut(many=True))
    @admin_blp.paginate()
    def get(self, query, pagination_parameters):
        """Every tenant's domain claims, pending ones first"""
        page = domains.list_claims(query.get("status"), page=pagination_parameters.page,
                                   page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return domains.describe_claims(page.items)


@admin_blp.route("/directory-domains/<int:domain_id>")
class DomainClaim(MethodView):
    @auth.require(Perm.DOMAIN_APPROVE, tenant_scoped=False)
    @admin_blp.response(204)
    def delete(self, domain_id):
        """Take a claim away, verified or not (the domain changed hands, a mistake)"""
        domains.revoke(domain_id)


@admin_blp.route("/directory-domains/<int:domain_id>/approve")
class DomainApprove(MethodView):
    @auth.require(Perm.DOMAIN_APPROVE, tenant_scoped=False)
    @admin_blp.response(200, DomainClaimOut)
    def post(self, domain_id):
        """Verify a claim on the administrator's word, without DNS proof"""
        return domains.describe_claims([domains.approve(domain_id, auth.current_principal().email)])[0]
