"""Events VCS publishes (through ``taiji.platform.events.publish``, in the change's unit of work).

- ``vcs.push`` {tenant, repository, ref, before, after, pusher: {id, email, name} | null,
  commits: [{id, message, author: {name, email}, timestamp}]} — once per ref update, after the
  refs are written; commits newest first, at most 100; ``before``/``after`` are forty zeros for
  a created/deleted ref (GitHub's push shape). The commit ``after`` is in Taiji when the event is
  published: for an external repository with a mirror, the event waits for the fetch that brings
  it (services/mirror_pushes.py).

- ``vcs.merge_request.opened|updated|approved|merged|closed|reopened|commented`` {tenant, repository,
  id, number, title, state, draft, source_branch, target_branch, author_id, actor_id} — ``updated``
  adds ``changed`` (the fields), ``commented`` the ``note`` id, ``approved`` the approved ``sha``,
  ``merged`` the ``merge_sha`` and ``method``.

VCS subscribes to its own ``vcs.push``: open merge requests follow their source branch (and
publish ``updated`` with ``changed: ["head"]``); an open merge request whose source head a push to
its target branch brings in (merged locally and pushed) becomes merged (``merged`` with the new
head as ``merge_sha`` and ``method`` ``push``, the pusher as actor). When CI is enabled it subscribes to CI's
``cicd.pipeline.*`` too (without importing CI): each keeps the newest pipeline of its commit as
the commit's status (services/statuses.py), shown on merge requests and commits.
"""

from __future__ import annotations

from taiji.platform.module import EventSpec

PUSH = "vcs.push"
MERGE_REQUEST = "vcs.merge_request"

PUBLISHED = [
    EventSpec(PUSH, {"tenant": str, "repository": str, "ref": str, "before": str, "after": str,
                     "pusher": (dict, None), "commits": list}),
    EventSpec(MERGE_REQUEST + ".*", {"tenant": str, "repository": str, "id": int, "number": int, "title": str,
                                     "state": str, "draft": bool, "source_branch": str, "target_branch": str,
                                     "author_id": (int, None), "actor_id": (int, None), "changed?": list,
                                     "note?": int, "sha?": str, "merge_sha?": str, "method?": str}),
]


def on_pipeline(event) -> None:
    """A pipeline started or ended: its commit's status (idempotent; the newest pipeline wins)."""
    from .services.statuses import record_pipeline

    record_pipeline(event.payload or {})


def on_push(event) -> None:
    """A branch moved: the open merge requests from it follow their new head, and those into it
    whose source head it now contains are merged (merged locally and pushed)."""
    from taiji.platform.tenancy import tenant_by_slug

    from .services import find_repository
    from .services.merge_requests import source_pushed, target_pushed

    payload = event.payload or {}
    tenant = tenant_by_slug(payload.get("tenant") or "")
    repo = find_repository(tenant, payload.get("repository") or "") if tenant is not None else None
    if repo is not None:
        ref, after, pusher = payload.get("ref") or "", payload.get("after") or "", payload.get("pusher")
        source_pushed(tenant, repo, ref, after, (pusher or {}).get("id"))
        target_pushed(tenant, repo, ref, payload.get("before") or "", after, pusher)


PIPELINE_EVENTS = tuple(f"cicd.pipeline.{outcome}"
                        for outcome in ("started", "succeeded", "failed", "canceled"))
# Subscribed in ``subscribe_to_ci`` (the module's setup), only when CI is enabled and declares them:
# VCS runs without CI, and a subscription to an event nobody declares stops the app from starting.
HANDLERS: dict = {PUSH: [on_push]}


def subscribe_to_ci(app) -> None:
    from taiji.platform import events, registry

    declared = registry.current()
    for name in PIPELINE_EVENTS:
        if declared.event_spec(name) is not None:
            events.subscribe(name, on_pipeline)
