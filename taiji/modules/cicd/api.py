"""CICD REST routes: pipelines, jobs, logs, artifacts, CI secrets, and the `.taiji.yml` JSON Schema."""

from __future__ import annotations

import json

from flask import Response, jsonify
from flask.views import MethodView

from taiji.platform import auth, content
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.errors import NotFound, msg

from . import pipeline_file, services
from .permissions import Perm
from .schemas import (
    ArtifactOut,
    CiSecretIn,
    CiSecretOut,
    CiSecretQueryIn,
    JobDetailOut,
    LogQueryIn,
    PipelineOut,
    PipelineQueryIn,
    RunIn,
)

blp = Blueprint(
    "cicd_api",
    __name__,
    url_prefix="/api/v1",
    description="Pipelines from .taiji.yml: runs, jobs, live logs, artifacts, CI secrets",
)

T = "/tenants/<tenant>"


def _principal():
    return auth.current_principal()


@blp.route(T + "/pipelines")
class Pipelines(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.arguments(PipelineQueryIn, location="query")
    @blp.response(200, PipelineOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """The tenant's pipelines, newest first; filter by repository, status and ref"""
        page = services.list_pipelines(
            tenant,
            **query,
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(T + "/repositories/<repository>/pipelines")
class RepositoryPipelines(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.arguments(PipelineQueryIn(only=("status", "ref")), location="query")
    @blp.response(200, PipelineOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, repository, pagination_parameters):
        """One repository's pipelines, newest first"""
        page = services.list_pipelines(
            tenant,
            repository=repository,
            **query,
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.PIPELINE_RUN)
    @blp.arguments(RunIn)
    @blp.response(201, PipelineOut)
    def post(self, data, tenant, repository):
        """Run the repository's `.taiji.yml` at a branch, tag or commit, with optional variables"""
        return services.run_pipeline(
            tenant, repository, data["ref"], variables=data["variables"], actor=_principal()
        )


@blp.route(T + "/pipelines/<int:pipeline_id>")
class PipelineItem(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, PipelineOut)
    def get(self, tenant, pipeline_id):
        """One pipeline with its jobs and their states"""
        return services.get_pipeline(tenant, pipeline_id)


@blp.route(T + "/pipelines/<int:pipeline_id>/cancel")
class PipelineCancel(MethodView):
    @auth.require(Perm.PIPELINE_RUN)
    @blp.response(200, PipelineOut)
    def post(self, tenant, pipeline_id):
        """Cancel the pipeline: its running jobs' processes are killed (idempotent)"""
        return services.cancel_pipeline(tenant, pipeline_id, actor=_principal())


@blp.route(T + "/pipelines/<int:pipeline_id>/retry")
class PipelineRetry(MethodView):
    @auth.require(Perm.PIPELINE_RUN)
    @blp.response(201, PipelineOut)
    def post(self, tenant, pipeline_id):
        """Run a finished pipeline again: a new pipeline of the same commit and variables"""
        return services.retry_pipeline(tenant, pipeline_id, actor=_principal())


@blp.route(T + "/jobs/<int:job_id>")
class JobItem(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, JobDetailOut)
    def get(self, tenant, job_id):
        """One job: timing, exit code, why it failed, its artifacts"""
        return services.get_job(tenant, job_id)


def _job_action(action: str):
    @auth.require(Perm.PIPELINE_RUN)
    @blp.response(200, JobDetailOut)
    def post(self, tenant, job_id):
        return getattr(services, f"{action}_job")(tenant, job_id, actor=_principal())

    post.__doc__ = {
        "cancel": "Cancel the job (its processes are killed)",
        "retry": "Run a finished job again as its next attempt",
        "play": "Start a `when: manual` job",
    }[action]
    return type(f"Job{action.title()}", (MethodView,), {"post": post})


for _action in ("cancel", "retry", "play"):
    blp.route(T + f"/jobs/<int:job_id>/{_action}", endpoint=f"job_{_action}")(_job_action(_action))


def _log_response(job, query):
    text, next_offset, done = services.read_log(job, offset=query["offset"], limit=query["limit"])
    size = services.log_size(job)
    headers = {
        "X-Next-Offset": str(next_offset),
        "X-Log-Size": str(size),
        "X-Log-Complete": str(done).lower(),
        "Cache-Control": "no-store",
    }
    if query["format"] == "json":
        response = jsonify(
            {
                "text": text,
                "offset": query["offset"],
                "next_offset": next_offset,
                "size": size,
                "done": done,
                "status": job.status,
            }
        )
        response.headers.update(headers)
        return response
    return Response(text, mimetype="text/plain", headers=headers)


@blp.route(T + "/jobs/<int:job_id>/log")
class JobLog(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.arguments(LogQueryIn, location="query")
    @blp.response(200, content_type="text/plain")
    def get(self, query, tenant, job_id):
        """The job's log as plain text from byte `offset` (X-Next-Offset says where to go on; X-Log-Complete
        says the job finished and nothing follows). `format=json` gives the same as a JSON object."""
        return _log_response(services.get_job(tenant, job_id), query)


@blp.route(T + "/pipelines/<int:pipeline_id>/jobs/<job>/log")
class PipelineJobLog(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.arguments(LogQueryIn, location="query")
    @blp.response(200, content_type="text/plain")
    def get(self, query, tenant, pipeline_id, job):
        """A job's log, the job named by its name in the pipeline (or its id)"""
        pipeline = services.get_pipeline(tenant, pipeline_id)
        found = next((j for j in pipeline.jobs if j.name == job or str(j.id) == job), None)
        if found is None:
            raise NotFound(msg("No job '%(job)s' in pipeline %(pipeline_id)s.",
                               job=job, pipeline_id=pipeline_id))
        return _log_response(found, query)


@blp.route(T + "/jobs/<int:job_id>/artifacts")
class JobArtifacts(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, ArtifactOut(many=True))
    def get(self, tenant, job_id):
        """The files the job kept (until they expire)"""
        return services.list_artifacts(services.get_job(tenant, job_id))


@blp.route(T + "/jobs/<int:job_id>/artifacts/<int:artifact_id>")
class JobArtifactFile(MethodView):
    @auth.require(Perm.PIPELINE_READ)
    @blp.response(200, content_type="application/octet-stream")
    def get(self, tenant, job_id, artifact_id):
        """Download one artifact (X-Checksum-Sha256 carries its digest)"""
        job = services.get_job(tenant, job_id)
        row = services.get_artifact(job, artifact_id)
        response = content.send_user_file(
            services.artifact_file(job, artifact_id), row.path.rsplit("/", 1)[-1], etag=row.sha256,
            inline_allowed=False,
        )
        response.headers["X-Checksum-Sha256"] = row.sha256
        return response


@blp.route(T + "/cicd/secrets")
class Secrets(MethodView):
    # Names too are for those who manage secrets (as GitHub's repository settings): a name tells
    # what a job could be made to print.
    @auth.require(Perm.SECRET_WRITE)
    @blp.arguments(CiSecretQueryIn, location="query")
    @blp.response(200, CiSecretOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """The tenant's CI secrets: names, scopes and protection, never values"""
        page = services.list_secrets(
            tenant,
            repository=query["repository"],
            page=pagination_parameters.page,
            per_page=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.SECRET_WRITE)
    @blp.arguments(CiSecretIn)
    @blp.response(201, CiSecretOut)
    @blp.alt_response(200, schema=CiSecretOut, description="An existing secret's value was replaced")
    def post(self, data, tenant):
        """Set a secret (write-only): 201 when new, 200 when its value was replaced"""
        secret, created = services.set_secret(
            tenant,
            data["name"],
            data["value"],
            repository=data["repository"],
            protected=data["protected"],
            actor=_principal(),
        )
        return secret, 201 if created else 200


@blp.route(T + "/cicd/secrets/<secret>")
class SecretItem(MethodView):
    @auth.require(Perm.SECRET_WRITE)
    @blp.arguments(CiSecretQueryIn, location="query")
    @blp.response(204)
    def delete(self, query, tenant, secret):
        """Delete a secret (tenant-wide, or `?repository=` for one repository's own value)"""
        services.delete_secret(tenant, secret, repository=query["repository"], actor=_principal())


@blp.route("/schemas/taiji-yml.json")
@auth.public  # the pipeline file's JSON Schema, for editors
class PipelineSchema(MethodView):
    @blp.response(200, content_type="application/schema+json")
    def get(self):
        """The JSON Schema of `.taiji.yml`, for editors (public)"""
        return Response(
            json.dumps(pipeline_file.schema(), indent=2),
            mimetype="application/schema+json",
            headers={"Cache-Control": "public, max-age=3600"},
        )
