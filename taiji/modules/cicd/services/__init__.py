"""CI's public face: pipelines, jobs, logs, artifacts and secrets. Other modules call only this."""

from __future__ import annotations

from .actions import cancel_job, cancel_pipeline, play_job, retry_job, retry_pipeline
from .artifacts import artifact_file, expire_artifacts, get_artifact, list_artifacts
from .logs import append_log, job_topic, log_size, pipeline_topic, read_log
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
    "cancel_job",
    "cancel_pipeline",
    "create_pipeline",
    "delete_secret",
    "expire_artifacts",
    "get_artifact",
    "get_job",
    "get_pipeline",
    "get_secret",
    "job_topic",
    "list_artifacts",
    "list_pipelines",
    "list_secrets",
    "log_size",
    "on_push",
    "pipeline_topic",
    "play_job",
    "read_log",
    "retry_job",
    "retry_pipeline",
    "run_due_schedules",
    "run_pipeline",
    "set_secret",
]
