"""VCS REST routes: repositories, protected branches, commits and refs."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.db import Page
from taiji.platform.errors import Forbidden, Invalid, field_error, msg

from . import services
from .permissions import Perm
from .schemas import (
    CommitOut,
    CommitQueryIn,
    ExternalOut,
    ExternalPatchIn,
    ProtectedBranchIn,
    ProtectedBranchOut,
    ProtectedBranchPatchIn,
    RefsOut,
    RepositoryIn,
    RepositoryOut,
    RepositoryPatchIn,
    RepositoryQueryIn,
    WebhookSecretOut,
)

blp = Blueprint("vcs_api", __name__, url_prefix="/api/v1",
                description="Repositories: hosted Git over HTTP, external ones by webhook, protected "
                            "branches")

T = "/tenants/<tenant>"
R = T + "/repositories/<repo>"


def resolve_path_first(blueprint, more=None, skip=()):
    """Makes a repository this tenant does not have a 404 on every route of ``blueprint``, whatever the
    body or If-Match says; ``more(repo, view_args)`` looks up what the path names inside it (a rule, a
    merge request) the same way. ``skip``: endpoints that answer for a repository in the bin."""

    @blueprint.before_request
    def _resolve_path_first():
        args = request.view_args or {}
        tenant = tenancy.current()
        if "repo" not in args or tenant is None or auth.current_principal() is None:
            return
        if request.endpoint in skip:
            return
        repo = services.get_repository(tenant, args["repo"])
        if more is not None:
            more(repo, args)


def _rule_in_path(repo, args):
    if "rule_id" in args:
        services.get_protected(repo, args["rule_id"])


resolve_path_first(blp, _rule_in_path, skip=("vcs_api.restore",))


def _repo(tenant, name):
    return services.get_repository(tenant, name)


@blp.route(T + "/repositories")
class Repositories(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.arguments(RepositoryQueryIn, location="query")
    @blp.response(200, RepositoryOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """Repositories of the tenant; filter by kind or part of the name"""
        if query["deleted"] and not auth.can(Perm.REPOSITORY_ADMIN, tenant):
            raise Forbidden(msg("You need the permission %(perm_repository_admin)s to list deleted "
                                "repositories.", perm_repository_admin=Perm.REPOSITORY_ADMIN))
        page = services.list_repositories(tenant, **query, page=pagination_parameters.page,
                                          page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.arguments(RepositoryIn)
    @blp.response(201, RepositoryOut)
    def post(self, data, tenant):
        """Create a hosted repository (branch `main`), or register an external one with `external`

        Counts against the tenant's `vcs.repositories` quota. For an external repository the
        answer carries `webhook_url` and `webhook_secret` to paste into the forge.
        """
        if data.get("visibility") == "public" and not auth.can(Perm.REPOSITORY_ADMIN, tenant):
            raise Forbidden(msg("You need the permission %(perm_repository_admin)s to make a repository "
                                "public.", perm_repository_admin=Perm.REPOSITORY_ADMIN))
        external_spec = data.pop("external", None)
        if external_spec is None:
            return services.create_repository(tenant, data, actor=auth.current_principal())
        try:
            from .services import external
        except ImportError:
            raise field_error("external",
                              msg("External repositories are not available in this build.")) from None
        repo = services.create_repository(tenant, data, actor=auth.current_principal(), kind="external")
        answer = external.register(tenant, repo, external_spec, actor=auth.current_principal()) or {}
        for key, value in answer.items():
            setattr(repo, key, value)
        return repo


@blp.route(R)
class RepositoryItem(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.etag
    @blp.response(200, RepositoryOut)
    def get(self, tenant, repo):
        """One repository, with its clone URL"""
        return _repo(tenant, repo)

    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.etag
    @blp.arguments(RepositoryPatchIn)
    @blp.response(200, RepositoryOut)
    def patch(self, data, tenant, repo):
        """Change description, default branch, component, or (administrators) visibility; needs If-Match"""
        item = _repo(tenant, repo)
        blp.check_etag(item, RepositoryOut)
        if "visibility" in data and data["visibility"] != item.visibility and not auth.can(
                Perm.REPOSITORY_ADMIN, tenant):
            raise Forbidden(msg("You need the permission %(perm_repository_admin)s to change the "
                                "visibility.", perm_repository_admin=Perm.REPOSITORY_ADMIN))
        return services.update_repository(tenant, item, data, actor=auth.current_principal())

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, repo):
        """Delete a repository; a platform administrator can restore it for 7 days; needs If-Match"""
        item = _repo(tenant, repo)
        blp.check_etag(item, RepositoryOut)
        services.delete_repository(tenant, item, actor=auth.current_principal())


@blp.route(R + "/restore", endpoint="restore")
class RepositoryRestore(MethodView):
    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.response(200, RepositoryOut)
    def post(self, tenant, repo):
        """Restore a repository deleted less than 7 days ago (platform administrators)"""
        principal = auth.current_principal()
        services.get_repository(tenant, repo, include_deleted=True)  # a name the tenant never had: 404
        if not principal.is_admin:
            raise Forbidden(msg("Only a platform administrator can restore a deleted repository."))
        return services.restore_repository(tenant, repo, actor=principal)


@blp.route(R + "/external")
class ExternalSourceItem(MethodView):
    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.arguments(ExternalPatchIn)
    @blp.response(200, ExternalOut)
    def patch(self, data, tenant, repo):
        """Change where an external repository lives or how it is mirrored

        Keys left out keep their value; `username`+`password` replace the mirror credentials,
        `clear_credentials` forgets them. Turning the mirror on (or a new URL or credentials)
        queues a fetch. Credentials and the webhook secret are never shown.
        """
        from .services import external

        spec = {key: value for key, value in data.items() if key not in ("username", "password",
                                                                          "clear_credentials")}
        if "password" in data:
            spec["mirror_credentials"] = {"username": data.get("username"), "password": data["password"]}
        elif data.get("clear_credentials"):
            spec["mirror_credentials"] = None
        elif "username" in data:
            raise field_error("password", msg("Give the password (or access token) with the user name."))
        return external.update_source(tenant, _external_repo(tenant, repo), spec,
                                      actor=auth.current_principal())


@blp.route(R + "/webhook-secret")
class WebhookSecret(MethodView):
    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.response(200, WebhookSecretOut)
    def post(self, tenant, repo):
        """A new webhook secret for an external repository, shown this once; the old one stops working"""
        from .services import external

        return external.rotate_secret(tenant, _external_repo(tenant, repo), actor=auth.current_principal())


def _external_repo(tenant, name):
    item = _repo(tenant, name)
    if item.kind != "external":
        raise Invalid(msg("This is a hosted repository: it has no forge, webhook or mirror."))
    return item


@blp.route(R + "/protected-branches")
class ProtectedBranches(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, ProtectedBranchOut(many=True))
    @blp.paginate()
    def get(self, tenant, repo, pagination_parameters):
        """The repository's protected branches"""
        rules = services.list_protected(_repo(tenant, repo))
        set_page_count(pagination_parameters, Page(rules, len(rules), 1, len(rules) or 1))
        start = (pagination_parameters.page - 1) * pagination_parameters.page_size
        return rules[start:start + pagination_parameters.page_size]

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.arguments(ProtectedBranchIn)
    @blp.response(201, ProtectedBranchOut)
    def post(self, data, tenant, repo):
        """Protect branches matching a pattern: no force-push, no deletion, push only by some roles"""
        return services.protect(tenant, _repo(tenant, repo), data, actor=auth.current_principal())


@blp.route(R + "/protected-branches/<int:rule_id>")
class ProtectedBranchItem(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, ProtectedBranchOut)
    def get(self, tenant, repo, rule_id):
        """One protection rule"""
        return services.get_protected(_repo(tenant, repo), rule_id)

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.arguments(ProtectedBranchPatchIn)
    @blp.response(200, ProtectedBranchOut)
    def patch(self, data, tenant, repo, rule_id):
        """Change a protection rule"""
        item = _repo(tenant, repo)
        return services.update_protection(tenant, item, services.get_protected(item, rule_id), data,
                                          actor=auth.current_principal())

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.response(204)
    def delete(self, tenant, repo, rule_id):
        """Remove a protection rule"""
        item = _repo(tenant, repo)
        services.unprotect(tenant, item, services.get_protected(item, rule_id),
                           actor=auth.current_principal())


@blp.route(R + "/commits")
class Commits(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.arguments(CommitQueryIn, location="query")
    @blp.response(200, CommitOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, repo, pagination_parameters):
        """The commit log of a ref (default branch when absent), newest first"""
        commits, total = services.log(_repo(tenant, repo), query["ref"], page=pagination_parameters.page,
                                      page_size=pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return commits


@blp.route(R + "/refs")
class Refs(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, RefsOut)
    def get(self, tenant, repo):
        """Branches and tags"""
        return services.refs(_repo(tenant, repo))
