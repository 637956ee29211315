"""Events VCS publishes (through ``taiji.platform.events.publish``, in the change's unit of work).

- ``vcs.push`` {tenant, repository, ref, before, after, pusher: {id, email, name} | null,
  commits: [{id, message, author: {name, email}, timestamp}]} — once per ref update, after the
  refs are written; commits newest first, at most 100; ``before``/``after`` are forty zeros for
  a created/deleted ref (GitHub's push shape). The commit ``after`` is in Taiji when the event is
  published: for an external repository with a mirror, the event waits for the fetch that brings
  it (services/mirror_pushes.py).

VCS subscribes to nothing.
"""

from __future__ import annotations

from taiji.platform.module import EventSpec

PUSH = "vcs.push"

PUBLISHED = [
    EventSpec(PUSH, {"tenant": str, "repository": str, "ref": str, "before": str, "after": str,
                     "pusher": (dict, None), "commits": list}),
]

HANDLERS: dict = {}
