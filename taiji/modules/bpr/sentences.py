"""BPR's audit actions as sentences (``taiji.platform.audit_sentences``), with links to their
targets: "alice uploaded py/demo-1.0.tar.gz (12 KiB)", not "alice did bpr.file.uploaded on …".
A file's target is "<repository>/<path>"; its entries since the file's id was recorded link the
file's page, older ones (and deletions) the repository's."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from taiji.platform.audit_sentences import Sentence
from taiji.platform.web.text import bytesize


def _repository(entry, tenant):
    name = entry.target.partition("/")[0]
    if tenant is None or not name:
        return None
    return url_for("bpr.repository", tenant=tenant.slug, bpr_repo=name)


def _repositories(entry, tenant):
    return url_for("bpr.repositories", tenant=tenant.slug) if tenant is not None else None


def _file(entry, tenant):
    file_id = (entry.details or {}).get("id")
    if tenant is None or not isinstance(file_id, int):
        return _repository(entry, tenant)
    return url_for("bpr.file", tenant=tenant.slug, bpr_repo=entry.target.partition("/")[0], bpr_file=file_id)


def _size(entry) -> dict:
    size = (entry.details or {}).get("size")
    return {"size": bytesize(size) if isinstance(size, int) else "?"}


def _retention(entry) -> dict:
    details = entry.details or {}
    deleted = details.get("deleted") if isinstance(details.get("deleted"), int) else 0
    size = details.get("bytes") if isinstance(details.get("bytes"), int) else 0
    return {"files": ngettext("%(num)s file", "%(num)s files", deleted), "size": bytesize(size)}


SENTENCES = [
    Sentence("bpr.repository.created", _l("%(actor)s created the package repository %(target)s"), None,
             _repository),
    Sentence("bpr.repository.updated", _l("%(actor)s changed the settings of the package repository "
                                          "%(target)s"), None, _repository),
    Sentence("bpr.repository.deleted", _l("%(actor)s deleted the package repository %(target)s"), None,
             _repositories),
    Sentence("bpr.file.uploaded", _l("%(actor)s uploaded %(target)s (%(size)s)"), _size, _file),
    Sentence("bpr.file.deleted", _l("%(actor)s deleted the file %(target)s"), None, _repository),
    Sentence("bpr.file.yanked", _l("%(actor)s yanked %(target)s"), None, _file),
    Sentence("bpr.file.unyanked", _l("%(actor)s unyanked %(target)s"), None, _file),
    Sentence("bpr.retention.applied",
             _l("%(actor)s applied the retention rules of %(target)s: %(files)s deleted (%(size)s)"),
             _retention, _repository),
]
