"""Reading repository data with GitPython: refs, commits, files."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from taiji.platform.errors import NotFound, field_error, msg

from ..models import Repository
from .repositories import local_git_dir

if TYPE_CHECKING:  # imported where used: importing it costs every process's start-up
    import git as gitpython

# What a user may name a revision with; a leading '-' would read as an option to git.
REV_PATTERN = re.compile(r"^[A-Za-z0-9._/@{}^~+-]{1,255}$")
ZERO = "0" * 40


def valid_rev(rev: str) -> bool:
    return bool(rev) and bool(REV_PATTERN.match(rev)) and not rev.startswith("-") and ".." not in rev


def open_repo(repo: Repository) -> gitpython.Repo | None:
    import git as gitpython

    path = local_git_dir(repo)
    return gitpython.Repo(str(path)) if path is not None else None


def resolve_ref(repo: Repository, rev: str) -> str | None:
    """The full sha of the commit ``rev`` names (branch, tag, sha, ``main~2``), or None."""
    import git as gitpython
    from gitdb.exc import BadName, BadObject

    if not valid_rev(rev):
        return None
    handle = open_repo(repo)
    if handle is None:
        return None
    try:
        return handle.commit(rev).hexsha
    except (BadName, BadObject, ValueError, IndexError, gitpython.GitCommandError):
        return None


def read_file(repo: Repository, rev: str, path: str) -> bytes | None:
    """The bytes of the file ``path`` at ``rev``, or None when there is no such file."""
    sha = resolve_ref(repo, rev)
    clean = (path or "").strip("/")
    if sha is None or not clean or any(part in ("", ".", "..") for part in clean.split("/")):
        return None
    handle = open_repo(repo)
    try:
        obj = handle.commit(sha).tree / clean
    except KeyError:
        return None
    if obj.type != "blob":
        return None
    return obj.data_stream.read()


def commit_dict(commit) -> dict:
    return {
        "id": commit.hexsha,
        "message": commit.message,
        "author": {"name": commit.author.name, "email": commit.author.email},
        "timestamp": commit.authored_datetime.isoformat(),
    }


def commit_messages(repo: Repository, shas) -> dict[str, str]:
    """The full message of each of these commits that the repository holds, by sha (CI shows
    a pipeline's commit with its title); unknown or malformed shas are left out."""
    import git as gitpython
    from gitdb.exc import BadName, BadObject

    handle = open_repo(repo)
    found: dict[str, str] = {}
    if handle is None:
        return found
    try:
        for sha in dict.fromkeys(shas):
            if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{4,64}", sha)):
                continue
            try:
                found[sha] = handle.commit(sha).message
            except (ValueError, IndexError, BadName, BadObject, gitpython.GitCommandError):
                continue
    finally:
        handle.close()
    return found


def log(repo: Repository, ref: str | None, *, page: int = 1, page_size: int = 20) -> tuple[list[dict], int]:
    """One page of the history of ``ref`` (default branch when None), newest first, and its total."""
    ref = ref or repo.default_branch
    sha = resolve_ref(repo, ref) if valid_rev(ref) else None
    if sha is None:
        if ref == repo.default_branch:
            return [], 0  # an empty repository has no history yet
        raise field_error("ref", msg("No branch, tag or commit '%(ref)s'.", ref=ref))
    handle = open_repo(repo)
    total = int(handle.git.rev_list("--count", sha))
    commits = handle.iter_commits(sha, max_count=page_size, skip=(page - 1) * page_size)
    return [commit_dict(c) for c in commits], total


def refs(repo: Repository) -> dict:
    """Branches and tags with the commit each points at."""
    handle = open_repo(repo)
    if handle is None:
        return {"branches": [], "tags": []}
    from .browse import is_text

    branches = [{"name": h.name, "commit": h.commit.hexsha, "default": h.name == repo.default_branch}
                for h in handle.heads if is_text(h.name)]
    tags = [{"name": t.name, "commit": t.commit.hexsha} for t in handle.tags if is_text(t.name)]
    return {"branches": branches, "tags": tags}


def push_commits(repo: Repository, ref: str, before: str, after: str, limit: int = 100) -> list[dict]:
    """The commits a ref update brought, newest first, at most ``limit`` (GitHub's push shape).

    A new ref brings what no other ref reached; a deleted ref brings none.
    """
    if after == ZERO:
        return []
    handle = open_repo(repo)
    if handle is None:
        raise NotFound(msg("The repository has no local copy."))
    if before == ZERO:
        # Not "--all": it includes HEAD, which may be the very ref that was just created.
        listing = handle.git.for_each_ref("--format=%(objectname) %(refname)")
        others = sorted({line.split(" ", 1)[0] for line in listing.splitlines()
                         if line and line.split(" ", 1)[1] != ref})
        rev = [after, "--not", *others] if others else after
    else:
        rev = f"{before}..{after}"
    return [commit_dict(c) for c in handle.iter_commits(rev, max_count=limit)]
