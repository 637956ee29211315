"""VCS REST routes of merge requests (code review) and commit statuses."""

from __future__ import annotations

from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.api import Blueprint, set_page_count

from . import services
from .api import resolve_path_first
from .permissions import Perm
from .schemas_merge import (
    CommitStatusQueryIn,
    MergeRequestChangesOut,
    MergeRequestIn,
    MergeRequestMergeIn,
    MergeRequestMergeStatusOut,
    MergeRequestNoteIn,
    MergeRequestNoteOut,
    MergeRequestOut,
    MergeRequestPatchIn,
    MergeRequestQueryIn,
    MergeRequestResolveIn,
    MergeRequestThreadOut,
    VcsCommitBriefOut,
    VcsPipelineStatusOut,
)
from .services import merge_requests as mrs

blp = Blueprint("vcs_merge_api", __name__, url_prefix="/api/v1",
                description="Merge requests: review (threads, inline comments, approvals) and merging by "
                            "Taiji; commit statuses from pipelines")

R = "/tenants/<tenant>/repositories/<repo>"
MR = R + "/merge-requests/<int:number>"


def _merge_request_in_path(repo, args):
    if "number" in args:
        mrs.get_merge_request(repo, args["number"])


resolve_path_first(blp, _merge_request_in_path)


def _load(tenant, repo, number):
    row = services.get_repository(tenant, repo)
    return row, mrs.get_merge_request(row, number)


def _roles(tenant) -> tuple[str, ...]:
    return tuple(auth.access(tenant).roles)


@blp.route(R + "/merge-requests")
class MergeRequests(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.arguments(MergeRequestQueryIn, location="query")
    @blp.response(200, MergeRequestOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, repo, pagination_parameters):
        """Merge requests of a repository, newest first; `state` open (default), closed, merged or all"""
        page = mrs.list_merge_requests(services.get_repository(tenant, repo), state=query["state"],
                                       page=pagination_parameters.page,
                                       page_size=pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.arguments(MergeRequestIn)
    @blp.response(201, MergeRequestOut)
    def post(self, data, tenant, repo):
        """Open a merge request from a source branch into a target branch (the default one if absent)"""
        return mrs.open_merge_request(tenant, services.get_repository(tenant, repo), data,
                                      actor=auth.current_principal())


@blp.route(MR)
class MergeRequestItem(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, MergeRequestOut)
    def get(self, tenant, repo, number):
        """One merge request"""
        return _load(tenant, repo, number)[1]

    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.arguments(MergeRequestPatchIn)
    @blp.response(200, MergeRequestOut)
    def patch(self, data, tenant, repo, number):
        """Change title, description or draft; `state` closed closes it, open reopens it"""
        row, mr = _load(tenant, repo, number)
        return mrs.update_merge_request(tenant, row, mr, data, actor=auth.current_principal())


@blp.route(MR + "/changes")
class MergeRequestChanges(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, MergeRequestChangesOut)
    def get(self, tenant, repo, number):
        """The diff from the merge base to the source head (what merging brings)"""
        row, mr = _load(tenant, repo, number)
        result = mrs.changes(row, mr)
        if result is None:
            return {"merge_base": None, "additions": 0, "deletions": 0, "truncated": False, "files": []}
        diff = result["diff"]
        return {"merge_base": result["merge_base"], "additions": diff.additions, "deletions": diff.deletions,
                "truncated": diff.truncated, "files": diff.files}


@blp.route(MR + "/commits")
class MergeRequestCommits(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, VcsCommitBriefOut(many=True))
    def get(self, tenant, repo, number):
        """The commits of the source branch the target lacks, newest first"""
        row, mr = _load(tenant, repo, number)
        result = mrs.changes(row, mr)
        return result["commits"] if result else []


@blp.route(MR + "/mergeability")
class MergeRequestStatus(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, MergeRequestMergeStatusOut)
    def get(self, tenant, repo, number):
        """Whether it can be merged now, and why not: conflicts, approvals, pipeline, draft"""
        row, mr = _load(tenant, repo, number)
        status = mrs.merge_status(row, mr)
        status.reasons = [str(r) for r in status.reasons]
        return status


@blp.route(MR + "/threads")
class MergeRequestThreads(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.response(200, MergeRequestThreadOut(many=True))
    def get(self, tenant, repo, number):
        """Discussion threads, general and inline (a file, a line and a side of the diff)"""
        return mrs.threads(_load(tenant, repo, number)[1])

    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.arguments(MergeRequestNoteIn)
    @blp.response(201, MergeRequestNoteOut)
    def post(self, data, tenant, repo, number):
        """Comment: generally, inline with `path`, `line` and `side`, or in a thread with `reply_to`"""
        row, mr = _load(tenant, repo, number)
        return mrs.add_note(tenant, row, mr, data, actor=auth.current_principal())


@blp.route(MR + "/threads/<int:thread_id>/resolve")
class MergeRequestThreadResolve(MethodView):
    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.arguments(MergeRequestResolveIn)
    @blp.response(200, MergeRequestNoteOut)
    def post(self, data, tenant, repo, number, thread_id):
        """Resolve a thread (`resolved`: false unresolves it)"""
        row, mr = _load(tenant, repo, number)
        return mrs.resolve_thread(tenant, row, mr, thread_id, data["resolved"],
                                  actor=auth.current_principal())


@blp.route(MR + "/approval")
class MergeRequestApproval(MethodView):
    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.response(201, MergeRequestMergeStatusOut)
    def post(self, tenant, repo, number):
        """Approve (not your own); the target's protection says whose approvals count"""
        row, mr = _load(tenant, repo, number)
        mrs.approve(tenant, row, mr, actor=auth.current_principal(), roles=_roles(tenant))
        status = mrs.merge_status(row, mr)
        status.reasons = [str(r) for r in status.reasons]
        return status

    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.response(204)
    def delete(self, tenant, repo, number):
        """Withdraw your approval"""
        row, mr = _load(tenant, repo, number)
        mrs.unapprove(tenant, row, mr, actor=auth.current_principal())


@blp.route(MR + "/merge")
class MergeRequestMerge(MethodView):
    @auth.require(Perm.REPOSITORY_WRITE)
    @blp.arguments(MergeRequestMergeIn)
    @blp.response(200, MergeRequestOut)
    def post(self, data, tenant, repo, number):
        """Merge: `method` merge (a merge commit), squash or ff (fast-forward), as the target allows

        409 with the reasons when it cannot be merged now (conflicts, approvals, pipeline, draft, or
        the target branch moved meanwhile); nothing is changed then.
        """
        row, mr = _load(tenant, repo, number)
        return mrs.merge(tenant, row, mr, method=data["method"], sha=data.get("sha"),
                         actor=auth.current_principal(), roles=_roles(tenant))


@blp.route(R + "/commit-statuses")
class CommitStatuses(MethodView):
    @auth.require(Perm.REPOSITORY_READ)
    @blp.arguments(CommitStatusQueryIn, location="query")
    @blp.response(200, VcsPipelineStatusOut(many=True))
    def get(self, query, tenant, repo):
        """The newest pipeline status of commits (`sha` repeated); commits without a pipeline are left out"""
        row = services.get_repository(tenant, repo)
        return list(services.commit_statuses(row.tenant_id, row.name, query["sha"]).values())
