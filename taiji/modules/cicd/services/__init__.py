"""CI's public face: pipelines, jobs, logs, artifacts and secrets. Other modules call only this."""

from __future__ import annotations

from .actions import cancel_job, cancel_pipeline, play_job, retry_job, retry_pipeline, retryable
from .artifacts import artifact_file, expire_artifacts, get_artifact, list_artifacts
from .commits import commit_messages, repository_names, repository_refs, split_message
from .logs import (
    append_log,
    at_line_start,
    chunk_times,
    job_topic,
    lines_before,
    log_size,
    pipeline_topic,
    read_log,
)
from .pipelines import (
    create_pipeline,
    get_job,
    get_pipeline,
    list_pipelines,
    on_push,
    run_pipeline,
)
from .schedules import run_due as run_due_schedules
from .secrets import delete_secret, get_secret, list_secrets, set_secret

__all__ = [
    "append_log",
    "artifact_file",
    "at_line_start",
    "cancel_job",
    "cancel_pipeline",
    "chunk_times",
    "commit_messages",
    "create_pipeline",
    "delete_secret",
    "expire_artifacts",
    "get_artifact",
    "get_job",
    "get_pipeline",
    "get_secret",
    "job_topic",
    "lines_before",
    "list_artifacts",
    "list_pipelines",
    "list_secrets",
    "log_size",
    "on_push",
    "pipeline_topic",
    "play_job",
    "read_log",
    "repository_names",
    "repository_refs",
    "retry_job",
    "retry_pipeline",
    "retryable",
    "run_due_schedules",
    "run_pipeline",
    "set_secret",
    "split_message",
]
