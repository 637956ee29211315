"""TM's own TAIJI_* settings, declared here and read by the kernel at start (``Module(settings=...)``).

Invitations read INVITATION_TTL_HOURS (invitations.py) from ``current_app.config``.
"""

from __future__ import annotations

from taiji.platform.config import Setting, integer

SETTINGS = [
    Setting("TAIJI_INVITATION_TTL_HOURS", "72", "How long an invitation link stays valid.",
            parse=integer(minimum=1)),
]
