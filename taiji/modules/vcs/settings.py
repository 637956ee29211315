"""VCS's own TAIJI_* settings, declared here and read by the kernel at start (``Module(settings=...)``).

Mirrors read VCS_MIRROR_ALLOWED_HOSTS (services/mirror_policy.py), the post-receive hook
VCS_HOOK_RETRY_SECONDS (hooks.py), smart HTTP pushes VCS_PUSH_IDLE_SECONDS (git_http.py); each
from ``current_app.config``.
"""

from __future__ import annotations

from taiji.platform.config import Setting, csv, integer

SETTINGS = [
    Setting("TAIJI_VCS_MIRROR_ALLOWED_HOSTS", "",
            "Comma-separated hosts or CIDR ranges mirrors may fetch from although they are loopback, "
            "link-local or otherwise reserved (refused by default; public and private ranges are "
            "allowed).", parse=csv),
    Setting("TAIJI_VCS_HOOK_RETRY_SECONDS", "30",
            "How long a push's post-receive hook keeps trying to record the push (the database busy "
            "or away) before leaving it to the reconciliation task; the pusher waits that long.",
            parse=integer()),
    Setting("TAIJI_VCS_PUSH_IDLE_SECONDS", "120",
            "A push whose client sends nothing for this long is abandoned and what it sent removed "
            "(a client gone without closing its connection); 0 waits forever.", parse=integer()),
]
