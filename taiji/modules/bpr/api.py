"""BPR REST routes: repositories, their files and packages, yanking, retention."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint, set_page_count

from . import services
from .permissions import Perm
from .schemas import (
    BprFileOut,
    BprFileQueryIn,
    BprPackageOut,
    BprPackageQueryIn,
    BprRepositoryIn,
    BprRepositoryOut,
    BprRepositoryPatchIn,
    BprRepositoryQueryIn,
    BprRetentionOut,
    BprYankIn,
)

blp = Blueprint(
    "bpr_api",
    __name__,
    url_prefix="/api/v1",
    description="Binary repositories: generic files and Python package indexes",
)

T = "/tenants/<tenant>/bpr/repositories"
R = T + "/<bpr_repo>"
F = R + "/files/<int:bpr_file>"


@blp.before_request
def _resolve_path_first():
    """A repository or file this tenant does not have is a 404 whatever the body or If-Match."""
    args = request.view_args or {}
    tenant = tenancy.current()
    if "bpr_repo" not in args or tenant is None or auth.current_principal() is None:
        return
    repository = services.get_repository(tenant, args["bpr_repo"])
    if "bpr_file" in args:
        services.get_file(repository, args["bpr_file"])


def _repo(tenant, name):
    return services.get_repository(tenant, name)


@blp.route(T)
class Repositories(MethodView):
    @auth.require(Perm.PACKAGE_READ)
    @blp.arguments(BprRepositoryQueryIn, location="query")
    @blp.response(200, BprRepositoryOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """Repositories of the tenant, by name"""
        page = services.list_repositories(
            tenant, **query, page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.arguments(BprRepositoryIn)
    @blp.response(201, BprRepositoryOut)
    def post(self, data, tenant):
        """Create a repository of kind `generic` or `pypi` (counts against `bpr.repositories`)"""
        return services.create_repository(tenant, data)


@blp.route(R)
class RepositoryItem(MethodView):
    @auth.require(Perm.PACKAGE_READ)
    @blp.etag
    @blp.response(200, BprRepositoryOut)
    def get(self, tenant, bpr_repo):
        """One repository, with its size and file count"""
        return _repo(tenant, bpr_repo)

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.etag
    @blp.arguments(BprRepositoryPatchIn)
    @blp.response(200, BprRepositoryOut)
    def patch(self, data, tenant, bpr_repo):
        """Change description, immutability, visibility or retention rules; needs If-Match"""
        item = _repo(tenant, bpr_repo)
        blp.check_etag(item, BprRepositoryOut)
        return services.update_repository(tenant, item, data)

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, bpr_repo):
        """Delete a repository and every file in it; needs If-Match"""
        item = _repo(tenant, bpr_repo)
        blp.check_etag(item, BprRepositoryOut)
        services.delete_repository(tenant, item)


@blp.route(R + "/files")
class Files(MethodView):
    @auth.require(Perm.PACKAGE_READ)
    @blp.arguments(BprFileQueryIn, location="query")
    @blp.response(200, BprFileOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, bpr_repo, pagination_parameters):
        """Files of the repository, newest first; search by path, or one package's files"""
        page = services.list_files(
            _repo(tenant, bpr_repo),
            **query,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(F)
class FileItem(MethodView):
    @auth.require(Perm.PACKAGE_READ)
    @blp.response(200, BprFileOut)
    def get(self, tenant, bpr_repo, bpr_file):
        """One file with its sha256 and download address"""
        return services.get_file(_repo(tenant, bpr_repo), bpr_file)

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.response(204)
    def delete(self, tenant, bpr_repo, bpr_file):
        """Delete a file"""
        repository = _repo(tenant, bpr_repo)
        services.delete_file(tenant, repository, services.get_file(repository, bpr_file))


@blp.route(F + "/yank")
class Yank(MethodView):
    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.arguments(BprYankIn)
    @blp.response(200, BprFileOut)
    def post(self, data, tenant, bpr_repo, bpr_file):
        """Yank a package file (PEP 592) with a reason, or unyank it with `{"yanked": false}`"""
        repository = _repo(tenant, bpr_repo)
        row = services.get_file(repository, bpr_file)
        return services.set_yanked(tenant, repository, row, data["yanked"], data.get("reason"))


@blp.route(R + "/packages")
class Packages(MethodView):
    @auth.require(Perm.PACKAGE_READ)
    @blp.arguments(BprPackageQueryIn, location="query")
    @blp.response(200, BprPackageOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, bpr_repo, pagination_parameters):
        """Projects of a package index, each with its versions newest first"""
        page = services.list_packages(
            _repo(tenant, bpr_repo),
            **query,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items


def _retention(repository, planned, applied: bool) -> dict:
    return {
        "applied": applied,
        "keep_last": repository.keep_last,
        "max_age_days": repository.max_age_days,
        "files": planned,
        "bytes": sum(item["file"].size for item in planned),
    }


@blp.route(R + "/retention")
class Retention(MethodView):
    @auth.require(Perm.PACKAGE_READ)
    @blp.response(200, BprRetentionOut)
    def get(self, tenant, bpr_repo):
        """What the retention rules would delete now (a dry run; nothing changes)"""
        repository = _repo(tenant, bpr_repo)
        return _retention(repository, services.retention_plan(tenant, repository), False)

    @auth.require(Perm.REPOSITORY_ADMIN)
    @blp.response(200, BprRetentionOut)
    def post(self, tenant, bpr_repo):
        """Apply the retention rules now; answers what was deleted"""
        repository = _repo(tenant, bpr_repo)
        return _retention(repository, services.apply_retention(tenant, repository), True)
