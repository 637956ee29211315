"""VCS: placeholder module object; the subsystem's blueprints, nav and permissions register here."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from taiji.platform.module import Module

module = Module(code="vcs", title=_l("Repositories"))
