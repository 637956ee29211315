"""Protected branches, and the check a push must pass before any ref moves."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from taiji.platform import audit
from taiji.platform.db import db
from taiji.platform.errors import NotFound, field_error, msg

from ..models import ProtectedBranch, Repository
from .pushes import unusable_ref
from .repositories import GIT, repository_path

ZERO = "0" * 40
MAX_PATTERN = 200


def list_protected(repo: Repository) -> list[ProtectedBranch]:
    stmt = sa.select(ProtectedBranch).where(ProtectedBranch.repository_id == repo.id).order_by(
        ProtectedBranch.pattern)
    return list(db.session.execute(stmt).scalars())


def get_protected(repo: Repository, rule_id: int) -> ProtectedBranch:
    row = db.session.get(ProtectedBranch, rule_id)
    if row is None or row.repository_id != repo.id:
        raise NotFound(msg("No protection rule %(rule_id)s on '%(repo_name)s'.",
                           rule_id=rule_id, repo_name=repo.name))
    return row


def _check_pattern(pattern: str) -> str:
    pattern = (pattern or "").strip()
    if not pattern or len(pattern) > MAX_PATTERN or any(c in pattern for c in " \t\n\\:~^?[") \
            or pattern.startswith(("/", "-", "refs/")) or ".." in pattern:
        raise field_error("pattern", msg("A branch name or a pattern with '*' (like 'release/*'), without "
                                         "the 'refs/heads/' prefix."))
    return pattern


def _check_roles(roles, field: str = "push_roles") -> list[str]:
    roles = [str(r).strip() for r in roles or []]
    if any(not r or len(r) > 63 for r in roles):
        raise field_error(field, msg("Each role is a role key such as 'owner' or 'admin'."))
    return sorted(set(roles))


MERGE_SETTINGS = ("required_approvals", "approval_roles", "reset_approvals_on_push", "merge_methods",
                  "require_merge_request", "require_green_pipeline")


def _checked_merge_settings(data: dict) -> dict:
    """The merge settings ``data`` names, checked; nothing is written (a refusal changes nothing)."""
    checked = {}
    if "required_approvals" in data:
        count = data["required_approvals"]
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 20:
            raise field_error("required_approvals", msg("A number from 0 to 20."))
        checked["required_approvals"] = count
    if "approval_roles" in data:
        checked["approval_roles"] = _check_roles(data["approval_roles"], "approval_roles")
    if "merge_methods" in data:
        methods = sorted(set(data["merge_methods"] or []))
        if any(m not in ("merge", "squash", "ff") for m in methods):
            raise field_error("merge_methods", msg("Each method is merge, squash or ff."))
        checked["merge_methods"] = methods
    for key in ("reset_approvals_on_push", "require_merge_request", "require_green_pipeline"):
        if key in data:
            checked[key] = bool(data[key])
    return checked


def _merge_settings(row: ProtectedBranch, data: dict) -> None:
    for key, value in _checked_merge_settings(data).items():
        setattr(row, key, value)


def protect(tenant, repo: Repository, data: dict, *, actor=None) -> ProtectedBranch:
    """Protect the branches matching ``data['pattern']``."""
    pattern = _check_pattern(data.get("pattern"))
    if any(rule.pattern == pattern for rule in list_protected(repo)):
        raise field_error("pattern", msg("'%(pattern)s' is protected already; change that rule instead.",
                                         pattern=pattern))
    row = ProtectedBranch(repository_id=repo.id, pattern=pattern,
                          allow_force_push=bool(data.get("allow_force_push", False)),
                          allow_deletion=bool(data.get("allow_deletion", False)),
                          push_roles=_check_roles(data.get("push_roles")), required_approvals=0,
                          approval_roles=[], merge_methods=[])
    _merge_settings(row, data)
    db.session.add(row)
    db.session.flush()
    audit.record("vcs.branch.protected", "repository", repo.name, tenant=tenant, actor=actor,
                 details={"pattern": pattern, "push_roles": row.push_roles})
    return row


def update_protection(tenant, repo: Repository, row: ProtectedBranch, data: dict, *,
                      actor=None) -> ProtectedBranch:
    # Everything is checked before anything is set: a refused change leaves the rule as it was.
    pattern = _check_pattern(data["pattern"]) if "pattern" in data else row.pattern
    if pattern != row.pattern and any(r.pattern == pattern for r in list_protected(repo)):
        raise field_error("pattern", msg("'%(pattern)s' is protected already.", pattern=pattern))
    push_roles = _check_roles(data["push_roles"]) if "push_roles" in data else row.push_roles
    merge_settings = _checked_merge_settings(data)
    row.pattern, row.push_roles = pattern, push_roles
    for key in ("allow_force_push", "allow_deletion"):
        if key in data:
            setattr(row, key, bool(data[key]))
    for key, value in merge_settings.items():
        setattr(row, key, value)
    db.session.flush()
    audit.record("vcs.branch.protection_changed", "repository", repo.name, tenant=tenant, actor=actor,
                 details={"pattern": row.pattern})
    return row


def unprotect(tenant, repo: Repository, row: ProtectedBranch, *, actor=None) -> None:
    db.session.delete(row)
    db.session.flush()
    audit.record("vcs.branch.unprotected", "repository", repo.name, tenant=tenant, actor=actor,
                 details={"pattern": row.pattern})


def rule_for(rules: list[ProtectedBranch], ref: str) -> ProtectedBranch | None:
    if not ref.startswith("refs/heads/"):
        return None
    branch = ref[len("refs/heads/"):]
    # An exact name wins over a pattern; among patterns the longest (most specific) one.
    matching = [r for r in rules if fnmatch.fnmatchcase(branch, r.pattern)]
    matching.sort(key=lambda r: (r.pattern != branch, -len(r.pattern)))
    return matching[0] if matching else None


@dataclass
class Pusher:
    user_id: int | None
    roles: tuple[str, ...]
    is_admin: bool


def _quarantine_env(repo_dir: Path, env: dict) -> dict:
    """The hook's object directories, accepted only when they lie inside the repository."""
    result = {}
    for key in ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"):
        value = (env or {}).get(key)
        if not value:
            continue
        parts = value.split(os.pathsep)
        if all(repo_dir == Path(p).resolve() or repo_dir in Path(p).resolve().parents for p in parts):
            result[key] = value
    return result


def is_fast_forward(repo_dir: Path, old: str, new: str, env: dict) -> bool:
    # old and new are checked hex shas (hooks._updates); env holds only vetted object directories.
    result = subprocess.run([GIT, "-C", str(repo_dir), "merge-base", "--is-ancestor", old, new],  # noqa: S603
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                            capture_output=True, timeout=120)
    return result.returncode == 0


def check_push(tenant, repo: Repository, updates: list[tuple[str, str, str]], pusher: Pusher,
               hook_env: dict) -> list[str]:
    """Why this push must be refused (an empty list: accept). Nothing is written either way.

    The storage quota is checked after this, with room held for the push (services/storage.py).
    """
    odd = [problem for _, _, ref in updates if (problem := unusable_ref(ref)) is not None]
    if odd:
        return odd
    repo_dir = repository_path(repo)
    env = _quarantine_env(repo_dir, hook_env)
    rules = list_protected(repo)
    refusals = []
    for old, new, ref in updates:
        rule = rule_for(rules, ref)
        if rule is None:
            continue
        branch = ref[len("refs/heads/"):]
        if new == ZERO:
            if not rule.allow_deletion:
                refusals.append(f"Branch '{branch}' is protected: it cannot be deleted.")
            continue
        if rule.push_roles and not pusher.is_admin and not set(rule.push_roles) & set(pusher.roles):
            refusals.append(f"Branch '{branch}' is protected: only the roles {', '.join(rule.push_roles)} "
                            f"may push to it.")
            continue
        if rule.require_merge_request and old != ZERO:  # creating the branch is still a push
            refusals.append(f"Branch '{branch}' is protected: changes reach it through merge requests only. "
                            f"Push to another branch and open a merge request.")
            continue
        if old != ZERO and not rule.allow_force_push and not is_fast_forward(repo_dir, old, new, env):
            refusals.append(f"Branch '{branch}' is protected: force-push (a non-fast-forward update) "
                            f"is not allowed. Pull, merge or rebase, and push again.")
    return refusals


def quarantine_of(repo: Repository, hook_env: dict) -> Path | None:
    """Where git holds the push's received objects, if the hook named a place inside the repository."""
    vetted = _quarantine_env(repository_path(repo), hook_env).get("GIT_QUARANTINE_PATH")
    return Path(vetted) if vetted else None
