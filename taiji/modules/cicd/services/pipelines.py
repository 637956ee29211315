"""Pipelines: created from a `.taiji.yml` at a commit, listed, canceled, retried."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from taiji.platform import audit, auth
from taiji.platform.db import Page, db, paginate
from taiji.platform.errors import Invalid, NotFound, field_error, msg

from .. import pipeline_file
from ..models import Job, JobStatus, Pipeline, PipelineStatus, Trigger
from . import runner_settings, scheduler
from .capacity import job_time_limit

ZERO_SHA = "0" * 40
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_VARIABLES = 50
_REV_SYNTAX = re.compile(r"[~^:@{}\\\s*?\[]|\.\.")


def _vcs():
    from taiji.modules.vcs import services as vcs_services

    return vcs_services


def _bpr():
    from taiji.modules.bpr import services as bpr_services

    return bpr_services


def _actor_email(actor) -> str | None:
    return getattr(actor, "email", None)


def _actor_id(actor) -> int | None:
    return getattr(actor, "user_id", None) or getattr(actor, "id", None)


def check_variables(variables) -> dict[str, str]:
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise field_error("variables", msg("Variables are an object of names to text values."))
    if len(variables) > MAX_VARIABLES:
        raise field_error("variables", msg("At most %(max_variables)s variables.",
                                           max_variables=MAX_VARIABLES))
    out = {}
    for name, value in variables.items():
        if not VARIABLE_NAME.match(str(name)):
            raise field_error("variables", msg("'%(name)s' is not a variable name (letters, digits, _).",
                                               name=name))
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > 10_000:
            raise field_error("variables", msg("'%(name)s' must be text of at most 10000 characters.",
                                               name=name))
        out[str(name)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def protected_run(tenant, repository: str, ref: str, trigger: str, actor) -> bool:
    """Whether a pipeline of ``ref`` may receive protected secrets.

    Yes when ``ref`` is a branch of a hosted repository whose protection names the roles that may
    push (so its code came only through them) and the pipeline was started by a push there (which
    passed that rule), by a schedule, by Taiji itself (no actor), or by someone the rule lets push:
    whoever starts a run chooses its variables, and variables steer what a job does with a secret.
    A mirror's branches are never protected here: their pushes happen on the forge.
    """
    # A revision expression ("main~3", "main^2", "main@{1}") names some other commit than the tip.
    if not ref.startswith("refs/heads/") or _REV_SYNTAX.search(ref):
        return False
    vcs = _vcs()
    repo = vcs.find_repository(tenant, repository)
    if repo is None or repo.kind != "hosted":
        return False
    rule = vcs.rule_for(vcs.list_protected(repo), ref)
    if rule is None or not rule.push_roles:
        return False
    if trigger in (Trigger.PUSH, Trigger.SCHEDULE) or actor is None:
        return True
    if not isinstance(actor, auth.Principal) or auth.registry.access_resolver is None:
        return False
    if actor.is_admin:
        return True
    return bool(set(rule.push_roles) & set(auth.registry.access_resolver(actor, tenant).roles))


def _next_number(tenant_id: int, repository: str) -> int:
    current = db.session.execute(
        sa.select(sa.func.max(Pipeline.number)).where(
            Pipeline.tenant_id == tenant_id, Pipeline.repository == repository
        )
    ).scalar()
    return (current or 0) + 1


def publish_exists(tenant):
    """The `publish.repository` check of the parser: a BPR repository of this tenant."""

    def exists(name: str) -> bool:
        try:
            return bool(_bpr().repository_exists(tenant, name))
        except (ImportError, AttributeError):
            return False

    return exists


def runner_check(name: str) -> str | None:
    """The parser's question: may a job ask for runner ``name`` here?"""
    from ..runners.base import runner_refusal

    return runner_refusal(name, current_app.config)


def create_pipeline(
    tenant,
    repository: str,
    *,
    ref: str,
    sha: str,
    text: bytes | str | None,
    trigger: str = Trigger.MANUAL,
    variables: dict | None = None,
    actor=None,
    source: str | None = None,
    repository_id=None,
    dedupe_key: str | None = None,
    config: dict | None = None,
    retry_of: Pipeline | None = None,
    protected: bool = False,
) -> Pipeline:
    """Make a pipeline and its jobs from the file ``text`` (or an already parsed ``config``).

    A file with errors gives a pipeline in state ``error`` whose message names the file's line;
    no job is created, so nothing half-runs. Otherwise the first jobs are handed to the runner
    once the unit of work commits. ``protected``: its jobs may receive protected secrets (see
    ``protected_run``).
    """
    error, error_messages = None, None
    if config is None:
        if text is None:
            missing = pipeline_file.FileError(None, msg(
                "no such file at %(sha)s; add it to the repository, or run another commit", sha=sha[:12]))
            error, error_messages = missing.render(english=True), [missing.to_json()]
        else:
            result = pipeline_file.parse(
                text, repository_exists=publish_exists(tenant), runner_check=runner_check,
                max_timeout=job_time_limit(tenant),
            )
            config, error = (result.config, None) if result.ok else (None, result.message)
            error_messages = [e.to_json() for e in result.errors] or None
    pipeline = Pipeline(
        tenant_id=tenant.id,
        repository=repository,
        repository_id=str(repository_id) if repository_id else None,
        number=_next_number(tenant.id, repository),
        ref=ref,
        sha=sha,
        trigger=str(trigger),
        variables=check_variables(variables),
        status=PipelineStatus.CREATED.value,
        source=source,
        config=config or {},
        dedupe_key=dedupe_key,
        retry_of_id=retry_of.id if retry_of else None,
        created_by_id=_actor_id(actor),
        created_by_email=_actor_email(actor),
        protected=protected,
        error_messages=error_messages,
    )
    db.session.add(pipeline)
    db.session.flush()
    audit.record(
        "cicd.pipeline.create",
        "cicd_pipeline",
        f"{repository}#{pipeline.number}",
        tenant=tenant,
        actor=actor,
        details={"ref": ref, "sha": sha, "trigger": str(trigger), "id": pipeline.id, "protected": protected},
    )
    if error is not None:
        scheduler.finish_pipeline(pipeline, PipelineStatus.ERROR, error=error)
        return pipeline
    settings = runner_settings.find_settings(tenant.id, repository)
    default_runner = settings.default_runner if settings else None
    for name, spec in config["jobs"].items():
        db.session.add(
            Job(
                tenant_id=tenant.id,
                pipeline_id=pipeline.id,
                name=name,
                position=spec["position"],
                needs=spec["needs"],
                spec={**spec, "env": {**config["env"], **spec["env"]}},
                when=spec["when"],
                allow_failure=spec["allow_failure"],
                # A `when: manual` job reads "manual" from the start, not only once its needs ran.
                status=(JobStatus.MANUAL if spec["when"] == "manual" else JobStatus.CREATED).value,
                runner=runner_settings.job_runner(spec, default_runner),
            )
        )
    pipeline.status = PipelineStatus.PENDING.value
    db.session.flush()
    db.session.refresh(pipeline)
    scheduler.advance_tenant(tenant.id, pipeline)
    return pipeline


def run_pipeline(
    tenant,
    repository: str,
    ref: str,
    *,
    variables: dict | None = None,
    actor=None,
    trigger: str = Trigger.MANUAL,
) -> Pipeline:
    """Run the repository's `.taiji.yml` at ``ref`` (branch, tag or commit), by hand or on schedule."""
    vcs = _vcs()
    repo = vcs.get_repository(tenant, repository)
    if not ref or len(ref) > 255:
        raise field_error("ref", msg("Name a branch, tag or commit."))
    sha = vcs.resolve_ref(repo, ref)
    if sha is None:
        raise field_error("ref", msg("No branch, tag or commit '%(ref)s' in repository '%(repository)s'.",
                                     ref=ref, repository=repository))
    full_ref = ref if ref.startswith("refs/") or ref == sha else _full_ref(vcs, repo, ref)
    text = vcs.read_file(repo, sha, pipeline_file.FILE_NAME)
    if text is None:
        raise Invalid(
            msg("Repository '%(repository)s' has no %(pipeline_file_file_name)s at '%(ref)s'.",
                repository=repository, pipeline_file_file_name=pipeline_file.FILE_NAME, ref=ref),
            errors={"json": {"ref": [msg("No %(pipeline_file_file_name)s at this ref.",
                                         pipeline_file_file_name=pipeline_file.FILE_NAME)]}},
        )
    return create_pipeline(
        tenant,
        repository,
        ref=full_ref,
        sha=sha,
        text=text,
        trigger=trigger,
        variables=variables,
        actor=actor,
        source=vcs.clone_url(repo),
        repository_id=getattr(repo, "id", None),
        protected=protected_run(tenant, repository, full_ref, trigger, actor),
    )


def _full_ref(vcs, repo, ref: str) -> str:
    for prefix in ("refs/heads/", "refs/tags/"):
        if vcs.resolve_ref(repo, prefix + ref) is not None:
            return prefix + ref
    return ref


def on_push(tenant, payload: dict) -> Pipeline | None:
    """A push arrived (event vcs.push): one pipeline per (repository, ref, new commit), when the
    file at that commit asks for it. A file with errors still makes an ``error`` pipeline on
    branch pushes, so the author sees why nothing ran."""
    ref, after, name = payload.get("ref") or "", payload.get("after") or "", payload.get("repository") or ""
    if not after or after == ZERO_SHA or not ref.startswith(("refs/heads/", "refs/tags/")):
        return None
    key = f"push:{name}:{ref}:{after}"[:255]
    existing = db.session.execute(
        sa.select(Pipeline.id).where(Pipeline.tenant_id == tenant.id, Pipeline.dedupe_key == key)
    ).scalar()
    if existing is not None:
        return None
    vcs = _vcs()
    repo = vcs.get_repository(tenant, name)
    text = vcs.read_file(repo, after, pipeline_file.FILE_NAME)
    if text is None:
        return None
    result = pipeline_file.parse(
        text, repository_exists=publish_exists(tenant), runner_check=runner_check,
        max_timeout=job_time_limit(tenant),
    )
    if result.ok:
        from . import schedules

        schedules.sync(tenant, name, ref, result.config)
        if not pipeline_file.push_matches(result.config, ref):
            return None
    elif not ref.startswith("refs/heads/"):
        return None
    pusher = payload.get("pusher") or {}
    actor = _Pusher(pusher.get("id"), pusher.get("email")) if pusher else None
    return create_pipeline(
        tenant,
        name,
        ref=ref,
        sha=after,
        text=text,
        trigger=Trigger.PUSH,
        actor=actor,
        source=vcs.clone_url(repo),
        repository_id=getattr(repo, "id", None),
        dedupe_key=key,
        config=result.config if result.ok else None,
        protected=protected_run(tenant, name, ref, Trigger.PUSH, actor),
    )


class _Pusher:
    def __init__(self, user_id, email):
        self.user_id, self.email = user_id, email


def list_pipelines(
    tenant,
    *,
    repository: str | None = None,
    status: str | None = None,
    ref: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page[Pipeline]:
    """The tenant's pipelines, newest first; filter by repository, status and ref (short or full)."""
    stmt = sa.select(Pipeline).where(Pipeline.tenant_id == tenant.id).options(selectinload(Pipeline.jobs))
    if repository:
        if _vcs().find_repository(tenant, repository, include_deleted=True) is None:
            raise NotFound(msg("No repository '%(repository)s'.", repository=repository))
        stmt = stmt.where(Pipeline.repository == repository)
    if status:
        stmt = stmt.where(Pipeline.status == status)
    if ref:
        stmt = stmt.where(Pipeline.ref.in_([ref, f"refs/heads/{ref}", f"refs/tags/{ref}"]))
    return paginate(stmt.order_by(Pipeline.id.desc()), page, per_page)


def get_pipeline(tenant, pipeline_id: int) -> Pipeline:
    row = db.session.execute(
        sa.select(Pipeline).where(Pipeline.tenant_id == tenant.id, Pipeline.id == pipeline_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No pipeline %(pipeline_id)s.", pipeline_id=pipeline_id))
    return row


def get_job(tenant, job_id: int) -> Job:
    row = db.session.execute(
        sa.select(Job).where(Job.tenant_id == tenant.id, Job.id == job_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No job %(job_id)s.", job_id=job_id))
    return row
