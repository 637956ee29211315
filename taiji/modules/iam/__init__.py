"""IAM: users, sign-in, personal access tokens, roles and role bindings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import AuthProvider, EventSpec, Module, NavItem

from . import commands, directory, oauth, overview, permissions, roles, sentences, services
from .api import blp as api_blp
from .directory import accounts
from .settings import SETTINGS
from .views import bp

# How the kernel recognizes callers: the console's session, and bearer tokens — personal access
# tokens, and the OpenID Connect provider's access tokens (oauth.bearer_loader tells them apart).
AUTH = AuthProvider(
    session_loader=services.principal_from_session,
    bearer_loader=oauth.bearer_loader(services.principal_from_token),
    access_resolver=services.resolve_access,
    tenant_ids_of=lambda user_id: services.tenant_ids_of(user_id).keys(),
    # A change to any of these drops every process's cached principals and access (authcache).
    watched_tables=("iam_user", "iam_token", "iam_role_binding", "iam_role", "iam_group",
                    "iam_group_member", "iam_binding", "iam_oauth_code", "iam_oauth_token",
                    "iam_oauth_client", "iam_signing_key"),
    count_accounts=services.count_users,
    create_first_admin=lambda email, password: services.create_user(
        email, "Administrator", password, admin=True, email_verified=True),
)


module = Module(
    code="iam",
    title=_l("Identity and access"),
    api_blueprints=[api_blp, oauth.api_blp, roles.api_blp, directory.api_blp, directory.admin_blp],
    blueprints=[bp, oauth.bp, oauth.console_bp, roles.bp, directory.bp, directory.admin_bp],
    nav=[
        NavItem(_l("Users"), "iam.users", scope="platform", permission=permissions.Perm.USER_READ, order=20),
        NavItem(_l("Roles"), "iam_roles.roles", permission=roles.Perm.ROLE_READ, order=905,
                group="manage"),
        NavItem(_l("Groups"), "iam_roles.groups", permission=roles.Perm.ROLE_READ, order=906,
                group="manage"),
        NavItem(_l("Sign-in directory"), "iam_directory.directory", permission=roles.Perm.DIRECTORY_WRITE,
                order=915, group="manage"),
        NavItem(_l("Email domains"), "iam_domains_admin.claims", scope="platform",
                permission=roles.Perm.DOMAIN_APPROVE, order=24),
        NavItem(_l("OAuth clients"), "iam_clients.clients", scope="platform",
                permission=oauth.OAuthPerm.CLIENT_WRITE, order=25),
        NavItem(_l("Profile"), "iam.profile", scope="user", order=10),
        NavItem(_l("Personal access tokens"), "iam.tokens", scope="user", order=20),
    ],
    permissions=[
        (permissions.Perm, permissions.TENANT_GRANTS, permissions.PLATFORM_GRANTS),
        oauth.PERMISSIONS,
        roles.PERMISSIONS,
    ],
    events=[EventSpec(accounts.MEMBER_JOINED, {"tenant_id": int, "user_id": int, "role": str},
                      "An upstream directory signed someone into a tenant for the first time.")],
    settings=SETTINGS,
    csrf_exempt=oauth.CSRF_EXEMPT_VIEWS,
    cli_commands=[commands.users, commands.tokens, *oauth.CLI_COMMANDS],
    kernel_endpoints={"login": "iam.login", "logout": "iam.logout", "set_locale": "iam.set_locale"},
    auth=AUTH,
    seeders="tests.modules.iam.seeders",
    overview=overview.OVERVIEW,
    audit_sentences=sentences.SENTENCES,
)
