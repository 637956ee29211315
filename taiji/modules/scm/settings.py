"""SCM's own TAIJI_* settings (``Module(settings=...)``), read from ``current_app.config`` without
the ``TAIJI_`` prefix."""

from __future__ import annotations

from taiji.platform.config import Setting, integer

SETTINGS = [
    Setting("TAIJI_SCM_MAX_VALUE_BYTES", "65536",
            "Largest configuration value (UTF-8 bytes of its text) of every type but file.",
            parse=integer(minimum=1)),
    Setting("TAIJI_SCM_MAX_FILE_BYTES", "262144",
            "Largest value of a configuration item of type file (UTF-8 bytes).", parse=integer(minimum=1)),
]
