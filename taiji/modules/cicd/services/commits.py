"""What the console shows of the repositories pipelines run: the commit's message, and the
repositories and refs a pipeline can be run on. Read through VCS's services only."""

from __future__ import annotations

from taiji.platform.errors import NotFound

from .pipelines import _vcs

MAX_REPOSITORIES = 500


def commit_messages(tenant, pipelines) -> dict[int, str]:
    """The full message of each pipeline's commit, by pipeline id; a pipeline whose repository
    or commit is gone has none."""
    by_repository: dict[str, list] = {}
    for pipeline in pipelines:
        by_repository.setdefault(pipeline.repository, []).append(pipeline)
    vcs = _vcs()
    found: dict[int, str] = {}
    for name, members in by_repository.items():
        repo = vcs.find_repository(tenant, name)
        if repo is None:
            continue
        try:
            messages = vcs.commit_messages(repo, [p.sha for p in members])
        except (NotFound, OSError):
            continue
        for pipeline in members:
            if pipeline.sha in messages:
                found[pipeline.id] = messages[pipeline.sha]
    return found


def split_message(message: str | None) -> tuple[str, str]:
    """A commit message's title (its first line) and the rest (the body), both stripped."""
    text = (message or "").strip()
    title, _newline, body = text.partition("\n")
    return title.strip(), body.strip("\n").rstrip()


def repository_names(tenant) -> list[str]:
    """The names of the tenant's repositories a pipeline can run on, sorted."""
    vcs = _vcs()
    names: list[str] = []
    page = 1
    while len(names) < MAX_REPOSITORIES:
        listing = vcs.list_repositories(tenant, page=page, page_size=100)
        names += [repo.name for repo in listing.items]
        if not listing.items or len(names) >= listing.total:
            break
        page += 1
    return names[:MAX_REPOSITORIES]


def repository_refs(tenant, repository: str) -> dict:
    """A repository's branches and tags by name, and its default branch:
    ``{"branches": [...], "tags": [...], "default": "main"}``. Raises NotFound for an unknown one."""
    vcs = _vcs()
    repo = vcs.get_repository(tenant, repository)
    try:
        refs = vcs.refs(repo)
    except OSError:
        refs = {"branches": [], "tags": []}
    branches = sorted(b["name"] for b in refs["branches"])
    tags = sorted((t["name"] for t in refs["tags"]), reverse=True)
    return {"branches": branches, "tags": tags, "default": repo.default_branch}
