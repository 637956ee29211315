"""Reading a repository for the console: refs, trees, files, history, diffs and archives.

Everything goes through GitPython on the repository's bare directory. Revisions and paths
come from URLs, so each is checked before git sees it: a revision may not look like an
option, a path may not climb out of the tree. Unknown revisions and paths are ``NotFound``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING

from taiji.platform.db import Page
from taiji.platform.errors import Invalid, NotFound, msg

if TYPE_CHECKING:  # imported where used: importing it costs every process's start-up
    import git

# Pages show at most this much of a file; the rest is a download away.
MAX_RENDERED_BYTES = 512 * 1024
# A diff shows at most this many files and lines in all, and this many lines of one file.
MAX_DIFF_FILES = 300
MAX_DIFF_LINES = 20_000
MAX_FILE_DIFF_LINES = 3_000
MAX_COMPARE_COMMITS = 250
ARCHIVE_FORMATS = {"tar.gz": "application/gzip", "zip": "application/zip"}
ZERO_SHA = "0" * 40
_REV_RE = re.compile(r"^[A-Za-z0-9._/@{}^~+-]{1,255}$")
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def check_rev(rev: str) -> str:
    """A revision from a URL: a branch, a tag, a commit id or ``ref~n``-style, never an option."""
    if not rev or rev.startswith("-") or ".." in rev or not _REV_RE.match(rev):
        raise NotFound(msg("No revision '%(rev)s' in this repository.", rev=rev[:80]))
    return rev


def check_path(path: str | None) -> str:
    """A path inside the tree, normalised; ``..``, NUL bytes and absolute tricks are refused."""
    raw = (path or "").replace("\\", "/")
    if "\x00" in raw or any(part == ".." for part in raw.split("/")):
        raise NotFound(msg("No such path in this repository."))
    normal = posixpath.normpath("/" + raw).lstrip("/")
    return "" if normal in (".", "") else normal


@cache
def _repo_class() -> type[git.Repo]:
    """GitPython's Repo, reading the submodule list once: its diff looks the list up again for
    every changed file (3 ms each), which made a 1,000-file comparison take seconds. (Made on first
    use: GitPython is imported where used, as importing it costs every process's start-up.)"""
    import git

    class _Repo(git.Repo):
        @cached_property
        def submodules(self):
            return super().submodules

    return _Repo


def open_repo(repo) -> git.Repo:
    # Imported here: the package's __init__ may re-export this module's functions.
    import git

    from . import local_git_dir

    path = local_git_dir(repo)
    if path is None:
        raise NotFound(msg("This repository has no data on this server yet."))
    try:
        return _repo_class()(path)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
        raise NotFound(msg("This repository has no data on disk yet.")) from exc


def is_empty(repo) -> bool:
    """Whether the repository has no branch or tag at all (nothing pushed yet)."""
    r = open_repo(repo)
    return not r.references


def resolve(repo, rev: str) -> git.Commit:
    """The commit ``rev`` names, or ``NotFound``."""
    import git
    from gitdb.exc import BadName, BadObject

    r = open_repo(repo)
    check_rev(rev)
    try:
        # git itself parses the revision (GitPython's own parser fails on some odd ones with
        # arbitrary errors); ``^{commit}`` peels tags, and a tree or blob is refused.
        sha = r.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
        return r.commit(sha)
    except (BadName, BadObject, ValueError, git.GitCommandError) as exc:
        raise NotFound(msg("No commit '%(rev)s' in this repository.", rev=rev[:80])) from exc


def split_ref(repo, rest: str) -> tuple[str, str]:
    """``feature/x/src/app.py`` -> (``feature/x``, ``src/app.py``): the longest leading part that
    names a branch or tag is the revision (branch names may hold slashes), else the first segment."""
    parts = [p for p in (rest or "").split("/") if p]
    if not parts:
        raise NotFound(msg("Name a revision."))
    r = open_repo(repo)
    names = {h.name for h in r.heads} | {t.name for t in r.tags}
    for i in range(len(parts), 0, -1):
        candidate = "/".join(parts[:i])
        if candidate in names:
            return candidate, "/".join(parts[i:])
    return check_rev(parts[0]), "/".join(parts[1:])


def is_text(name: str) -> bool:
    """Whether a ref name read from disk is UTF-8. Others (GitPython hands their bytes over
    escaped) are refused by pushes but may have been written around Taiji: they are left out of
    listings, as no page or link could carry them."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def default_branch(repo) -> str | None:
    r = open_repo(repo)
    try:
        name = r.head.reference.name
    except (TypeError, ValueError):
        return None
    heads = [h.name for h in r.heads if is_text(h.name)]
    return name if name in heads else (heads[0] if heads else None)


@dataclass
class RefInfo:
    name: str
    kind: str  # "branch" | "tag"
    sha: str
    summary: str
    authored_at: object
    author: str


def refs(repo) -> dict:
    """Branches (default first) and tags (newest first) with the commit each points at."""
    r = open_repo(repo)
    default = default_branch(repo)
    branches, tags = [], []
    for head in r.heads:
        if not is_text(head.name):
            continue
        c = head.commit
        branches.append(RefInfo(head.name, "branch", c.hexsha, c.summary, c.authored_datetime, c.author.name))
    for tag in r.tags:
        if not is_text(tag.name):
            continue
        try:
            c = tag.commit
        except ValueError:  # a tag of a tree or blob: nothing to browse
            continue
        tags.append(RefInfo(tag.name, "tag", c.hexsha, c.summary, c.authored_datetime, c.author.name))
    branches.sort(key=lambda b: (b.name != default, b.name))
    tags.sort(key=lambda t: t.authored_at, reverse=True)
    return {"default": default, "branches": branches, "tags": tags}


@dataclass
class Entry:
    name: str
    path: str
    kind: str  # "tree" | "blob" | "submodule" | "symlink"
    size: int | None


def tree(repo, rev: str, path: str = "") -> tuple[git.Commit, list[Entry]]:
    """The entries of the directory ``path`` at ``rev``: directories first, then files."""
    commit = resolve(repo, rev)
    path = check_path(path)
    node = _lookup(commit, path)
    if node.type != "tree":
        raise NotFound(msg("'%(path)s' is a file, not a directory.", path=path))
    entries = []
    for item in node:
        if item.type == "tree":
            kind, size = "tree", None
        elif item.type == "commit":
            kind, size = "submodule", None
        else:
            kind = "symlink" if item.mode == 0o120000 else "blob"
            size = item.size
        entries.append(Entry(item.name, item.path, kind, size))
    entries.sort(key=lambda e: (e.kind != "tree", e.name.lower()))
    return commit, entries


def _lookup(commit: git.Commit, path: str):
    if not path:
        return commit.tree
    try:
        return commit.tree / path
    except KeyError as exc:
        raise NotFound(msg("No '%(path)s' at this revision.", path=path)) from exc


@dataclass
class FileView:
    path: str
    size: int
    binary: bool
    truncated: bool
    text: str | None  # decoded content when shown, cut at MAX_RENDERED_BYTES


def file(repo, rev: str, path: str) -> tuple[git.Commit, FileView]:
    """A file at ``rev`` for display: binary files give only their size, large ones are cut."""
    commit = resolve(repo, rev)
    path = check_path(path)
    blob = _lookup(commit, path)
    if blob.type != "blob":
        raise NotFound(msg("'%(path)s' is a directory.", path=path))
    size = blob.size
    if size <= MAX_RENDERED_BYTES:
        head = blob.data_stream.read()
    else:
        # Only the beginning is wanted: a process of its own, so that a half-read stream cannot
        # desynchronise the repository's long-lived ``git cat-file``.
        head = b"".join(_cat_blob(commit.repo, blob.hexsha, limit=MAX_RENDERED_BYTES + 1))
    binary = b"\x00" in head[:8000]
    truncated = len(head) > MAX_RENDERED_BYTES
    text = None if binary else head[:MAX_RENDERED_BYTES].decode("utf-8", errors="replace")
    return commit, FileView(path=path, size=size, binary=binary, truncated=truncated, text=text)


def raw(repo, rev: str, path: str) -> tuple[int, Iterator[bytes]]:
    """A file's bytes at ``rev`` as (size, chunks), for download without holding it in memory."""
    commit = resolve(repo, rev)
    path = check_path(path)
    blob = _lookup(commit, path)
    if blob.type != "blob":
        raise NotFound(msg("'%(path)s' is a directory.", path=path))
    return blob.size, _cat_blob(commit.repo, blob.hexsha)


def _cat_blob(r: git.Repo, sha: str, limit: int | None = None) -> Iterator[bytes]:
    """A blob's bytes in chunks from ``git cat-file`` (at most ``limit``), without holding it all."""
    proc = r.git.cat_file("blob", sha, as_process=True)
    left = limit
    try:
        while left is None or left > 0:
            data = proc.proc.stdout.read(64 * 1024 if left is None else min(64 * 1024, left))
            if not data:
                break
            if left is not None:
                left -= len(data)
            yield data
    finally:
        proc.proc.stdout.close()
        proc.proc.kill()
        proc.proc.wait()


README_NAMES = ("readme.md", "readme.markdown", "readme.rst", "readme.txt", "readme")


def readme(repo, rev: str) -> FileView | None:
    """The README at the top of the tree at ``rev``, if there is one."""
    commit = resolve(repo, rev)
    names = {item.name.lower(): item.path for item in commit.tree.blobs}
    for candidate in README_NAMES:
        if candidate in names:
            return file(repo, commit.hexsha, names[candidate])[1]
    return None


@dataclass
class CommitInfo:
    sha: str
    short: str
    summary: str
    message: str
    author: str
    author_email: str
    authored_at: object
    parents: list[str]


def _info(c: git.Commit) -> CommitInfo:
    message = c.message if isinstance(c.message, str) else c.message.decode(errors="replace")
    summary = c.summary if isinstance(c.summary, str) else c.summary.decode(errors="replace")
    return CommitInfo(c.hexsha, c.hexsha[:10], summary, message, c.author.name or "", c.author.email or "",
                      c.authored_datetime, [p.hexsha for p in c.parents])


def log(repo, rev: str, path: str = "", *, page: int = 1, page_size: int = 30) -> Page[CommitInfo]:
    """The history reachable from ``rev`` (touching ``path`` when given), newest first."""
    commit = resolve(repo, rev)
    path = check_path(path)
    r = open_repo(repo)
    page, page_size = max(1, page), max(1, min(page_size, 100))
    paths = [path] if path else []
    # The commit id, not the user's text, reaches the command line.
    total = int(r.git.rev_list("--count", commit.hexsha, "--", *paths))
    items = [_info(c) for c in r.iter_commits(commit.hexsha, paths=paths, max_count=page_size,
                                              skip=(page - 1) * page_size)]
    return Page(items=items, total=total, page=page, page_size=page_size)


@dataclass
class DiffLine:
    kind: str  # "add" | "del" | "ctx" | "hunk"
    old: int | None
    new: int | None
    text: str


@dataclass
class FileDiff:
    old_path: str | None
    new_path: str | None
    status: str  # added | deleted | modified | renamed
    additions: int = 0
    deletions: int = 0
    binary: bool = False
    truncated: bool = False
    lines: list[DiffLine] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


@dataclass
class DiffResult:
    files: list[FileDiff]
    additions: int
    deletions: int
    truncated: bool  # files or lines were left out


def _diff(old, new) -> DiffResult:
    """Per-file unified diff from tree-ish ``old`` (None: the empty tree) to commit ``new``."""
    import git

    if old is None:
        index = new.diff(git.NULL_TREE, create_patch=True, R=True)
    else:
        index = old.diff(new, create_patch=True)
    files, budget, truncated = [], MAX_DIFF_LINES, False
    for d in index:
        if len(files) >= MAX_DIFF_FILES:
            truncated = True
            break
        status = ("added" if d.new_file else "deleted" if d.deleted_file
                  else "renamed" if d.renamed_file else "modified")
        fd = FileDiff(old_path=d.a_path, new_path=d.b_path, status=status)
        patch = d.diff if isinstance(d.diff, bytes) else (d.diff or "").encode()
        if b"\x00" in patch or patch.startswith(b"Binary files"):
            fd.binary = True
        else:
            budget = _parse_patch(fd, patch.decode("utf-8", errors="replace"), budget)
            truncated = truncated or fd.truncated
        files.append(fd)
    return DiffResult(files, sum(f.additions for f in files), sum(f.deletions for f in files), truncated)


def _parse_patch(fd: FileDiff, patch: str, budget: int) -> int:
    old_no = new_no = 0
    shown = 0
    for line in patch.splitlines():
        match = _HUNK_RE.match(line)
        if match:
            old_no, new_no = int(match.group(1)), int(match.group(2))
            kind, o, n = "hunk", None, None
        elif line.startswith("+"):
            kind, o, n = "add", None, new_no
            new_no += 1
            fd.additions += 1
        elif line.startswith("-"):
            kind, o, n = "del", old_no, None
            old_no += 1
            fd.deletions += 1
        elif line.startswith("\\"):  # "\ No newline at end of file"
            kind, o, n = "ctx", None, None
        else:
            kind, o, n = "ctx", old_no, new_no
            old_no += 1
            new_no += 1
        if shown < min(budget, MAX_FILE_DIFF_LINES):
            fd.lines.append(DiffLine(kind, o, n, line))
            shown += 1
        else:
            fd.truncated = True  # keep counting additions and deletions, stop keeping lines
    return budget - shown


def commit(repo, sha: str) -> tuple[CommitInfo, DiffResult]:
    """A commit and its diff against its first parent (the empty tree for a root commit)."""
    c = resolve(repo, sha)
    parent = c.parents[0] if c.parents else None
    return _info(c), _diff(parent, c)


def compare(repo, base: str, head: str) -> dict:
    """What ``head`` has that ``base`` has not: its commits, and the diff from their merge base."""
    base_c, head_c = resolve(repo, base), resolve(repo, head)
    r = open_repo(repo)
    bases = r.merge_base(base_c, head_c)
    merge_base = bases[0] if bases else None
    commits = list(r.iter_commits(f"{base_c.hexsha}..{head_c.hexsha}", max_count=MAX_COMPARE_COMMITS + 1))
    return {
        "base": _info(base_c),
        "head": _info(head_c),
        "merge_base": merge_base.hexsha if merge_base else None,
        "commits": [_info(c) for c in commits[:MAX_COMPARE_COMMITS]],
        "more_commits": len(commits) > MAX_COMPARE_COMMITS,
        "diff": _diff(merge_base, head_c),
    }


def parse_compare_spec(spec: str) -> tuple[str, str]:
    """``base...head`` (or ``base..head``) from the compare URL."""
    for sep in ("...", ".."):
        if sep in spec:
            base, _, head = spec.partition(sep)
            if base and head:
                return check_rev(base), check_rev(head)
    raise Invalid(msg("Compare two revisions as base...head."))


def archive(repo, rev: str, fmt: str) -> tuple[str, Iterator[bytes]]:
    """``git archive`` of ``rev`` streamed in chunks; returns (file name, chunks)."""
    if fmt not in ARCHIVE_FORMATS:
        raise NotFound(msg("No archive format '%(fmt)s'; use tar.gz or zip.", fmt=fmt[:20]))
    c = resolve(repo, rev)
    r = open_repo(repo)
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", rev).strip("-") or c.hexsha[:10]
    prefix = f"{repo.name}-{label}"
    proc = r.git.archive(f"--format={fmt}", f"--prefix={prefix}/", c.hexsha, as_process=True)

    def chunks() -> Iterator[bytes]:
        try:
            while data := proc.proc.stdout.read(64 * 1024):
                yield data
        finally:
            proc.proc.stdout.close()
            proc.proc.wait()

    return f"{prefix}.{fmt}", chunks()
