"""VCS's audit actions as sentences (``taiji.platform.audit_sentences``), with links to their
targets: the audit page reads "alice pushed 3 commits to webshop on refs/heads/main", not
"alice did vcs.repository.pushed on webshop"."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence


def _repository(entry, tenant):
    return url_for("vcs.repository", tenant=tenant.slug, repo=entry.target) if tenant is not None else None


def _settings(entry, tenant):
    return url_for("vcs.settings", tenant=tenant.slug, repo=entry.target) if tenant is not None else None


def _bin(entry, tenant):
    return url_for("vcs.deleted_repositories", tenant=tenant.slug) if tenant is not None else None


def _merge_request(entry, tenant):
    repo, _, number = entry.target.rpartition("!")
    if tenant is None or not repo or not number.isdigit():
        return None
    return url_for("vcs_mr.merge_request", tenant=tenant.slug, repo=repo, number=int(number))


def _method(entry) -> dict:
    words = {"merge": _l("a merge commit"), "squash": _l("squashing"), "ff": _l("fast-forward"),
             "push": _l("a push of the merged commits")}
    method = (entry.details or {}).get("method")
    return {"method": str(words.get(method, method or "?"))}


def _mr(action: str, text) -> Sentence:
    return Sentence(f"vcs.merge_request.{action}", text, None, _merge_request)


SENTENCES = [
    Sentence("vcs.repository.created", _l("%(actor)s created the repository %(target)s"), None, _repository),
    Sentence("vcs.repository.updated", _l("%(actor)s changed the settings of the repository %(target)s"),
             None, _settings),
    Sentence("vcs.repository.deleted", _l("%(actor)s deleted the repository %(target)s"), None, _bin),
    Sentence("vcs.repository.restored", _l("%(actor)s restored the repository %(target)s"), None,
             _repository),
    Sentence("vcs.repository.purged", _l("%(actor)s removed the deleted repository %(target)s for good"),
             None, None),
    Sentence("vcs.repository.pushed", _l("%(actor)s pushed %(commits)s commits to %(target)s on %(ref)s"),
             None, _repository),
    Sentence("vcs.branch.protected", _l("%(actor)s protected %(pattern)s in %(target)s"), None, _settings),
    Sentence("vcs.branch.protection_changed",
             _l("%(actor)s changed the protection of %(pattern)s in %(target)s"), None, _settings),
    Sentence("vcs.branch.unprotected", _l("%(actor)s stopped protecting %(pattern)s in %(target)s"), None,
             _settings),
    Sentence("vcs.external.registered", _l("%(actor)s connected %(target)s to its external repository"),
             None, _settings),
    Sentence("vcs.external.updated", _l("%(actor)s changed the external repository settings of %(target)s"),
             None, _settings),
    Sentence("vcs.external.secret_rotated", _l("%(actor)s made a new webhook secret for %(target)s"), None,
             _settings),
    _mr("opened", _l("%(actor)s opened the merge request %(target)s: %(title)s")),
    _mr("updated", _l("%(actor)s changed the merge request %(target)s")),
    _mr("commented", _l("%(actor)s commented on the merge request %(target)s")),
    _mr("approved", _l("%(actor)s approved the merge request %(target)s")),
    Sentence("vcs.merge_request.merged", _l("%(actor)s merged the merge request %(target)s by %(method)s"),
             _method, _merge_request),
    _mr("closed", _l("%(actor)s closed the merge request %(target)s")),
    _mr("reopened", _l("%(actor)s reopened the merge request %(target)s")),
    _mr("thread_resolved", _l("%(actor)s resolved a thread of the merge request %(target)s")),
    _mr("thread_unresolved", _l("%(actor)s reopened a thread of the merge request %(target)s")),
]
