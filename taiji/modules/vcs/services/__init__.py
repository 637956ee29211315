"""VCS services: the module's public face. Other modules (CI) call only these.

``external`` and ``browse`` (vcs-web's) live beside these modules; this package's names are the
contract: ``get_repository``, ``list_repositories``, ``create_repository``, ``local_git_dir``,
``clone_url``, ``read_file``, ``resolve_ref``, ``publish_push``; ``commit_statuses(tenant_id,
repository_name, shas)`` (the pipeline status of commits); ``merge_requests`` (code review).
"""

from __future__ import annotations

from . import merge_requests
from .gitdata import commit_messages, log, push_commits, read_file, refs, resolve_ref, valid_rev
from .hookscript import install_hooks
from .protection import (
    Pusher,
    check_push,
    get_protected,
    list_protected,
    protect,
    quarantine_of,
    rule_for,
    unprotect,
    update_protection,
)
from .pushes import announce_push, publish_push, published_tips, shown_ref, unusable_ref
from .reconcile import reconcile_pushes, reconcile_repository
from .repositories import (
    REPOSITORIES_METER,
    RESTORE_WINDOW,
    STORAGE_METER,
    check_name,
    clone_url,
    count_repositories,
    create_repository,
    delete_repository,
    find_repository,
    get_repository,
    git_root,
    http_url,
    list_repositories,
    local_git_dir,
    purge_due_repositories,
    quota_meters,
    refresh_size,
    repository_path,
    restore_repository,
    storage_used,
    update_repository,
    valid_name,
)
from .statuses import commit_status, commit_statuses, record_pipeline

__all__ = [
    "REPOSITORIES_METER",
    "RESTORE_WINDOW",
    "STORAGE_METER",
    "Pusher",
    "announce_push",
    "check_name",
    "check_push",
    "clone_url",
    "commit_messages",
    "commit_status",
    "commit_statuses",
    "count_repositories",
    "create_repository",
    "delete_repository",
    "find_repository",
    "get_protected",
    "get_repository",
    "git_root",
    "http_url",
    "install_hooks",
    "list_protected",
    "list_repositories",
    "local_git_dir",
    "log",
    "merge_requests",
    "protect",
    "publish_push",
    "published_tips",
    "purge_due_repositories",
    "push_commits",
    "quarantine_of",
    "quota_meters",
    "read_file",
    "reconcile_pushes",
    "reconcile_repository",
    "record_pipeline",
    "refresh_size",
    "refs",
    "repository_path",
    "resolve_ref",
    "restore_repository",
    "rule_for",
    "shown_ref",
    "storage_used",
    "unprotect",
    "unusable_ref",
    "update_protection",
    "update_repository",
    "valid_name",
    "valid_rev",
]
