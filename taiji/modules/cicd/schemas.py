"""REST schemas of pipelines, jobs, artifacts and CI secrets (input and output kept apart)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from .models import JobStatus, PipelineStatus


class PipelineQueryIn(Schema):
    repository = fields.String(load_default=None, validate=validate.Length(max=100))
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in PipelineStatus]))
    ref = fields.String(load_default=None, validate=validate.Length(max=255))


class RunIn(Schema):
    class Meta:
        # The repository is looked up before the body is judged (another tenant's one is a 404).
        unknown = EXCLUDE

    # Checked by the service, after the repository: another tenant's repository is a 404 first.
    ref = fields.String(
        load_default=None, metadata={"description": "Branch, tag or commit to run (required)"}
    )
    variables = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=None,
        metadata={"description": "Extra environment variables of every job"},
    )


class LogQueryIn(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    limit = fields.Integer(load_default=65536, validate=validate.Range(min=4, max=262144))
    format = fields.String(load_default="text", validate=validate.OneOf(["text", "json"]))


class ArtifactOut(Schema):
    id = fields.Integer()
    path = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    published = fields.Dict(allow_none=True)


def _image_name(image) -> str | None:
    """`image:` of the file: a reference, or {name, credentials}."""
    return image.get("name") if isinstance(image, dict) else image


class JobOut(Schema):
    id = fields.Integer()
    pipeline_id = fields.Integer()
    name = fields.String()
    status = fields.String(metadata={"description": " | ".join(s.value for s in JobStatus)})
    needs = fields.List(fields.String())
    when = fields.String()
    allow_failure = fields.Boolean()
    failure_reason = fields.String(
        allow_none=True,
        metadata={
            "description": "timeout | exit_status | runner_lost | canceled | output_limit | disk_limit "
            "| system | unstable (Jenkins)"
        },
    )
    exit_code = fields.Integer(allow_none=True)
    attempt = fields.Integer()
    runner = fields.String(metadata={"description": "Where the job runs: sandbox | docker | host"})
    isolated = fields.Function(
        lambda job: job.runner != "host",
        metadata={"description": "False on the host runner: the job ran unisolated, as the worker's user"},
    )
    image = fields.Function(
        lambda job: job.image or _image_name(job.spec.get("image")),
        metadata={"description": "The image the job ran in (docker runner), else the one its file names"},
    )
    image_digest = fields.String(
        allow_none=True,
        metadata={"description": "The image's registry digest (sha256:…), else its id (a local image)."},
    )
    worker = fields.String(allow_none=True)
    queued_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    heartbeat_at = fields.DateTime(allow_none=True)
    duration = fields.Float(allow_none=True)
    log_size = fields.Integer()
    junit = fields.Dict(allow_none=True)
    timeout = fields.Function(lambda job: job.spec.get("timeout"))
    script = fields.Function(lambda job: job.spec.get("script"))


class JobDetailOut(JobOut):
    artifacts = fields.List(fields.Nested(ArtifactOut))


class PipelineOut(Schema):
    id = fields.Integer()
    repository = fields.String()
    number = fields.Integer()
    ref = fields.String()
    sha = fields.String()
    trigger = fields.String()
    status = fields.String(metadata={"description": " | ".join(s.value for s in PipelineStatus)})
    error = fields.String(attribute="error_text", allow_none=True,
                          metadata={"description": "Why the pipeline could not run, in the Accept-Language"})
    variables = fields.Function(
        lambda p: sorted((p.variables or {}).keys()),
        metadata={"description": "Names only; values may be sensitive"},
    )
    created_by = fields.String(attribute="created_by_email", allow_none=True)
    retry_of = fields.Integer(attribute="retry_of_id", allow_none=True)
    protected = fields.Boolean(
        metadata={"description": "Its jobs receive protected secrets (a protected branch, see the docs)"}
    )
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    duration = fields.Float(allow_none=True)
    jobs = fields.List(fields.Nested(JobOut))


class CiSecretIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    value = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=65536))
    repository = fields.String(
        load_default=None,
        validate=validate.Length(max=100),
        metadata={"description": "Only for this repository (overrides a tenant-wide one)"},
    )
    protected = fields.Boolean(
        load_default=None,
        metadata={
            "description": "Given only to pipelines of protected branches (default true for a new secret; "
            "left as it is when omitted on a replace)"
        },
    )


class CiSecretQueryIn(Schema):
    repository = fields.String(load_default=None, validate=validate.Length(max=100))


class CiSecretOut(Schema):
    name = fields.String()
    repository = fields.Function(lambda s: s.repository or None)
    protected = fields.Boolean()
    updated_by = fields.String(attribute="updated_by_email", allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
