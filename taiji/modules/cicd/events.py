"""Events CI subscribes to (vcs.push) and publishes.

Published, each with ``tenant``, ``repository``, ``pipeline``, ``number``, ``ref``, ``sha``, ``status``:
``cicd.pipeline.started``, ``cicd.pipeline.succeeded``, ``cicd.pipeline.failed`` (also for a file
with errors, with ``error``), ``cicd.pipeline.canceled``; ``cicd.job.finished`` adds ``job``,
``name``, ``job_status``, ``failure_reason``, ``exit_code``, ``reports`` and ``artifacts``.
"""

from __future__ import annotations

import logging

from taiji.platform.module import EventSpec
from taiji.platform.tenancy import tenant_by_slug

from . import services

log = logging.getLogger("taiji.cicd")


def on_vcs_push(event) -> None:
    """A push to a hosted repository: start the pipeline its `.taiji.yml` asks for (idempotent: one
    pipeline per repository, ref and pushed commit, however often the event is delivered)."""
    tenant = tenant_by_slug(event.payload.get("tenant") or "")
    if tenant is None:
        log.info("push for an unknown tenant; ignored", extra={"payload": event.payload})
        return
    services.on_push(tenant, event.payload)


HANDLERS = {"vcs.push": [on_vcs_push]}

_PIPELINE = {"tenant": str, "repository": str, "pipeline": int, "number": int, "ref": str, "sha": str,
             "status": str, "trigger": str, "error": (str, None)}
PUBLISHED = [
    *(EventSpec(f"cicd.pipeline.{outcome}", _PIPELINE)
      for outcome in ("started", "succeeded", "failed", "canceled")),
    EventSpec("cicd.job.finished", {**_PIPELINE, "job": int, "name": str, "job_status": str, "attempt": int,
                                    "failure_reason": (str, None), "exit_code": (int, None), "reports": dict,
                                    "artifacts": list}),
]
