"""Merge requests: open, change, close and reopen, discuss (threads, inline on the diff), approve,
and merge with the real ``git`` (services/merging.py) under the target branch's protection rule.

Who may do what is decided here from what the caller brings: ``actor`` (the principal: user id,
name, email, whether a platform administrator) and ``roles`` (its tenant roles). The routes check
the repository permissions first (read to look, write to take part).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from taiji.platform import audit, events
from taiji.platform.db import Page, db, utcnow
from taiji.platform.errors import Conflict, Forbidden, Invalid, NotFound, field_error, msg
from taiji.platform.tenancy import Tenant

from ..events import MERGE_REQUEST
from ..models import Repository
from ..models_merge import METHODS, SIDES, STATES, MergeRequest, MergeRequestApproval, MergeRequestNote
from . import browse, merging
from .gitdata import push_commits
from .protection import list_protected, rule_for
from .pushes import publish_push
from .repositories import refresh_size, repository_path
from .statuses import GREEN, commit_status

MAX_TITLE = 255
MAX_BODY = 65_536
_BRANCH_RE = re.compile(r"^[A-Za-z0-9._/+-]{1,200}$")
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


# --- looking up -------------------------------------------------------------------------------------

def get_merge_request(repo: Repository, number) -> MergeRequest:
    try:
        number = int(number)
    except (TypeError, ValueError):
        number = 0
    row = db.session.execute(sa.select(MergeRequest).where(
        MergeRequest.repository_id == repo.id, MergeRequest.number == number)).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No merge request !%(number)s in '%(repo_name)s'.", number=number,
                           repo_name=repo.name))
    return row


def list_merge_requests(repo: Repository, *, state: str | None = None, page: int = 1,
                        page_size: int = 20) -> Page[MergeRequest]:
    if state not in (None, "", "all", *STATES):
        raise field_error("state", msg("The state is one of open, closed, merged or all."))
    stmt = sa.select(MergeRequest).where(MergeRequest.repository_id == repo.id)
    if state and state != "all":
        stmt = stmt.where(MergeRequest.state == state)
    total = db.session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one()
    page, page_size = max(1, page), max(1, min(page_size, 100))
    items = list(db.session.execute(stmt.order_by(MergeRequest.number.desc())
                                    .limit(page_size).offset((page - 1) * page_size)).scalars())
    return Page(items=items, total=total, page=page, page_size=page_size)


def count_open(repo: Repository) -> int:
    return db.session.execute(sa.select(sa.func.count()).where(
        MergeRequest.repository_id == repo.id, MergeRequest.state == "open")).scalar_one()


def branch_sha(repo: Repository, name: str | None) -> str | None:
    """The commit the branch ``name`` points at, or None (no such branch, or not a branch name)."""
    if not name or not _BRANCH_RE.match(name) or ".." in name or name.startswith(("-", "/")) \
            or name.endswith(("/", ".lock")):
        return None
    try:
        r = browse.open_repo(repo)
        return r.git.rev_parse("--verify", "--quiet", f"refs/heads/{name}^{{commit}}").strip() or None
    except Exception:
        return None


def heads(repo: Repository, mr: MergeRequest) -> tuple[str | None, str | None]:
    """(target tip, source tip) now; for a merged request, what was merged (merge base, source)."""
    if mr.state == "merged":
        return mr.base_sha, mr.head_sha
    return branch_sha(repo, mr.target_branch), branch_sha(repo, mr.source_branch)


def changes(repo: Repository, mr: MergeRequest) -> dict | None:
    """Commits and diff (from the merge base to the source head), as ``browse.compare``; None when a
    branch is gone."""
    target, source = heads(repo, mr)
    if source is None and mr.head_sha:
        source = mr.head_sha
    if target is None or source is None:
        return None
    return browse.compare(repo, target, source)


# --- events and audit -------------------------------------------------------------------------------

def _publish(tenant, repo: Repository, mr: MergeRequest, what: str, actor, **extra) -> None:
    tenant = tenant if isinstance(tenant, Tenant) else db.session.get(Tenant, repo.tenant_id)
    payload = {"tenant": tenant.slug, "repository": repo.name, "id": mr.id, "number": mr.number,
               "title": mr.title, "state": mr.state, "draft": mr.draft, "source_branch": mr.source_branch,
               "target_branch": mr.target_branch, "author_id": mr.author_id,
               "actor_id": getattr(actor, "user_id", None), **extra}
    events.publish(f"{MERGE_REQUEST}.{what}", payload, tenant=tenant)
    audit.record(f"vcs.merge_request.{what}", "merge_request", f"{repo.name}!{mr.number}", tenant=tenant,
                 actor=actor, details={"title": mr.title, **{k: v for k, v in extra.items() if k != "body"}})


def _name(actor) -> str:
    return (getattr(actor, "name", None) or getattr(actor, "email", None) or "")[:255]


def _text(data: dict, key: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key)
    value = "" if value is None else str(value)
    value = value.strip() if key == "title" else value
    if required and not value.strip():
        raise field_error(key, msg("This field is required."))
    if len(value) > limit:
        raise field_error(key, msg("At most %(limit)s characters.", limit=limit))
    return value


# --- opening and changing ---------------------------------------------------------------------------

def open_merge_request(tenant, repo: Repository, data: dict, *, actor=None) -> MergeRequest:
    title = _text(data, "title", MAX_TITLE, required=True)
    description = _text(data, "description", MAX_BODY)
    source, target = (data.get("source_branch") or "").strip(), (data.get("target_branch") or "").strip()
    if not target:
        target = repo.default_branch
    source_sha = branch_sha(repo, source)
    if source_sha is None:
        raise field_error("source_branch", msg("There is no branch '%(branch)s' in this repository.",
                                               branch=source[:80]))
    if branch_sha(repo, target) is None:
        raise field_error("target_branch", msg("There is no branch '%(branch)s' in this repository.",
                                               branch=target[:80]))
    if source == target:
        raise field_error("source_branch", msg("Choose a source branch other than the target branch."))
    existing = db.session.execute(sa.select(MergeRequest.number).where(
        MergeRequest.repository_id == repo.id, MergeRequest.state == "open",
        MergeRequest.source_branch == source, MergeRequest.target_branch == target)).scalar()
    if existing is not None:
        raise Conflict(msg("Merge request !%(number)s already proposes %(source)s into %(target)s.",
                           number=existing, source=source, target=target))
    # The repository row locked: two requests opened at once do not draw the same number.
    db.session.execute(sa.select(Repository.id).where(Repository.id == repo.id).with_for_update())
    number = (db.session.execute(sa.select(sa.func.max(MergeRequest.number)).where(
        MergeRequest.repository_id == repo.id)).scalar() or 0) + 1
    mr = MergeRequest(tenant_id=repo.tenant_id, repository_id=repo.id, number=number, title=title,
                      description=description, source_branch=source, target_branch=target,
                      draft=bool(data.get("draft", False)), author_id=getattr(actor, "user_id", None),
                      author_name=_name(actor), head_sha=source_sha)
    db.session.add(mr)
    db.session.flush()
    _publish(tenant, repo, mr, "opened", actor)
    return mr


def update_merge_request(tenant, repo: Repository, mr: MergeRequest, data: dict, *,
                         actor=None) -> MergeRequest:
    """Change title, description or draft; ``state`` "closed" closes, "open" reopens."""
    if mr.state == "merged" and set(data) - {"title", "description"}:
        raise Conflict(msg("This merge request is merged; only its title and description can change."))
    changed = []
    if "title" in data:
        mr.title = _text(data, "title", MAX_TITLE, required=True)
        changed.append("title")
    if "description" in data:
        mr.description = _text(data, "description", MAX_BODY)
        changed.append("description")
    if "draft" in data and bool(data["draft"]) != mr.draft:
        mr.draft = bool(data["draft"])
        changed.append("draft")
    state = data.get("state")
    if state is not None and state != mr.state:
        if state == "closed":
            mr.state, mr.closed_at = "closed", utcnow()
            db.session.flush()
            _publish(tenant, repo, mr, "closed", actor)
        elif state == "open":
            if branch_sha(repo, mr.source_branch) is None or branch_sha(repo, mr.target_branch) is None:
                raise Conflict(msg("The source or target branch is gone; this merge request cannot reopen."))
            clash = db.session.execute(sa.select(MergeRequest.number).where(
                MergeRequest.repository_id == repo.id, MergeRequest.state == "open", MergeRequest.id != mr.id,
                MergeRequest.source_branch == mr.source_branch,
                MergeRequest.target_branch == mr.target_branch)).scalar()
            if clash is not None:
                raise Conflict(msg("Merge request !%(number)s already proposes these branches.",
                                   number=clash))
            mr.state, mr.closed_at = "open", None
            db.session.flush()
            _publish(tenant, repo, mr, "reopened", actor)
        else:
            raise field_error("state", msg("The state can be set to open or closed; merging is its own "
                                           "action."))
    if changed:
        db.session.flush()
        _publish(tenant, repo, mr, "updated", actor, changed=changed)
    return mr


# --- threads ----------------------------------------------------------------------------------------

@dataclass
class Thread:
    root: MergeRequestNote
    replies: list[MergeRequestNote] = field(default_factory=list)

    @property
    def inline(self) -> bool:
        return self.root.path is not None


def threads(mr: MergeRequest) -> list[Thread]:
    notes = db.session.execute(sa.select(MergeRequestNote).where(
        MergeRequestNote.merge_request_id == mr.id).order_by(MergeRequestNote.id)).scalars()
    by_id: dict[int, Thread] = {}
    for note in notes:
        if note.reply_to_id is None:
            by_id[note.id] = Thread(note)
        elif note.reply_to_id in by_id:
            by_id[note.reply_to_id].replies.append(note)
    return list(by_id.values())


def _note(mr: MergeRequest, note_id) -> MergeRequestNote:
    row = db.session.get(MergeRequestNote, note_id) if isinstance(note_id, int) else None
    if row is None or row.merge_request_id != mr.id:
        raise NotFound(msg("No comment %(note)s on this merge request.", note=str(note_id)[:20]))
    return row


def _check_line(repo: Repository, mr: MergeRequest, path: str, line, side: str) -> None:
    if side not in SIDES:
        raise field_error("side", msg("The side is old or new."))
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        raise field_error("line", msg("A line number, from 1."))
    result = changes(repo, mr)
    files = {f.path: f for f in result["diff"].files} if result else {}
    diff_file = files.get(path)
    if diff_file is None:
        raise field_error("path", msg("'%(path)s' is not a file of this merge request's changes.",
                                      path=path[:200]))
    numbers = {(ln.old if side == "old" else ln.new) for ln in diff_file.lines if ln.kind != "hunk"}
    if line not in numbers:
        raise field_error("line", msg("Line %(line)s is not shown in the changes of '%(path)s'.",
                                      line=line, path=path[:200]))


def add_note(tenant, repo: Repository, mr: MergeRequest, data: dict, *, actor=None) -> MergeRequestNote:
    """A general comment, an inline one (``path``, ``line``, ``side``) or a reply (``reply_to``)."""
    body = _text(data, "body", MAX_BODY, required=True)
    note = MergeRequestNote(merge_request_id=mr.id, author_id=getattr(actor, "user_id", None),
                            author_name=_name(actor), body=body)
    if data.get("reply_to") is not None:
        root = _note(mr, data["reply_to"])
        note.reply_to_id = root.reply_to_id or root.id
    elif data.get("path"):
        path = str(data["path"])[:1024]
        side = data.get("side") or "new"
        _check_line(repo, mr, path, data.get("line"), side)
        note.path, note.line, note.side = path, data["line"], side
        note.commit_sha = heads(repo, mr)[1]
    db.session.add(note)
    db.session.flush()
    _publish(tenant, repo, mr, "commented", actor, note=note.id)
    return note


def resolve_thread(tenant, repo: Repository, mr: MergeRequest, note_id, resolved: bool, *, actor=None):
    root = _note(mr, note_id)
    if root.reply_to_id is not None:
        root = _note(mr, root.reply_to_id)
    root.resolved = bool(resolved)
    root.resolved_by = _name(actor) if resolved else None
    db.session.flush()
    audit.record("vcs.merge_request.thread_resolved" if resolved else "vcs.merge_request.thread_unresolved",
                 "merge_request", f"{repo.name}!{mr.number}", tenant=tenant, actor=actor,
                 details={"thread": root.id})
    return root


# --- approvals --------------------------------------------------------------------------------------

def rule_of(repo: Repository, mr: MergeRequest):
    return rule_for(list_protected(repo), f"refs/heads/{mr.target_branch}")


def approvals(mr: MergeRequest) -> list[MergeRequestApproval]:
    return list(db.session.execute(sa.select(MergeRequestApproval).where(
        MergeRequestApproval.merge_request_id == mr.id).order_by(MergeRequestApproval.id)).scalars())


def approval_state(repo: Repository, mr: MergeRequest) -> dict:
    """{required, count, approvals: [{user_id, user_name, counted, why}]} under the target's rule."""
    rule = rule_of(repo, mr)
    source = heads(repo, mr)[1]
    rows = []
    for a in approvals(mr):
        why = None
        if a.user_id == mr.author_id:
            why = "author"
        elif rule is not None and rule.approval_roles and not set(a.roles) & set(rule.approval_roles) \
                and "platform-admin" not in a.roles:
            why = "role"
        elif rule is not None and rule.reset_approvals_on_push and mr.state != "merged" and a.sha != source:
            why = "stale"
        rows.append({"user_id": a.user_id, "user_name": a.user_name, "sha": a.sha, "created_at": a.created_at,
                     "counted": why is None, "why": why})
    required = rule.required_approvals if rule is not None else 0
    return {"required": required, "count": sum(1 for r in rows if r["counted"]), "approvals": rows,
            "roles": list(rule.approval_roles) if rule is not None else []}


def approve(tenant, repo: Repository, mr: MergeRequest, *, actor, roles=()) -> MergeRequestApproval:
    if mr.state != "open":
        raise Conflict(msg("Only an open merge request can be approved."))
    if getattr(actor, "user_id", None) is None:
        raise Forbidden(msg("Only a person can approve."))
    if actor.user_id == mr.author_id:
        raise Forbidden(msg("You opened this merge request: your own approval does not count."))
    rule = rule_of(repo, mr)
    held = list(roles) + (["platform-admin"] if getattr(actor, "is_admin", False) else [])
    if rule is not None and rule.approval_roles and not set(held) & set(rule.approval_roles) \
            and not getattr(actor, "is_admin", False):
        raise Forbidden(msg("Approvals into '%(branch)s' count from the roles %(roles)s only.",
                            branch=mr.target_branch, roles=", ".join(rule.approval_roles)))
    source = heads(repo, mr)[1]
    if source is None:
        raise Conflict(msg("The source branch is gone; there is nothing to approve."))
    row = db.session.execute(sa.select(MergeRequestApproval).where(
        MergeRequestApproval.merge_request_id == mr.id, MergeRequestApproval.user_id == actor.user_id)
    ).scalar_one_or_none()
    if row is None:
        row = MergeRequestApproval(merge_request_id=mr.id, user_id=actor.user_id, user_name=_name(actor),
                                   roles=sorted(set(held)), sha=source)
        db.session.add(row)
    else:  # approving again renews it for the current head
        row.sha, row.roles = source, sorted(set(held))
    db.session.flush()
    _publish(tenant, repo, mr, "approved", actor, sha=source)
    return row


def unapprove(tenant, repo: Repository, mr: MergeRequest, *, actor) -> None:
    row = db.session.execute(sa.select(MergeRequestApproval).where(
        MergeRequestApproval.merge_request_id == mr.id,
        MergeRequestApproval.user_id == getattr(actor, "user_id", None))).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("You have not approved this merge request."))
    db.session.delete(row)
    db.session.flush()
    _publish(tenant, repo, mr, "updated", actor, changed=["approvals"])


# --- merging ----------------------------------------------------------------------------------------

@dataclass
class MergeStatus:
    mergeable: bool
    reasons: list  # Msg objects: why it cannot be merged now
    conflicts: list[str]
    methods: list[str]  # the methods the target's rule allows
    fast_forward: bool
    pipeline: dict | None
    approvals: dict
    source_sha: str | None
    target_sha: str | None


def merge_status(repo: Repository, mr: MergeRequest) -> MergeStatus:
    target, source = heads(repo, mr)
    rule = rule_of(repo, mr)
    methods = [m for m in METHODS if rule is None or not rule.merge_methods or m in rule.merge_methods]
    pipeline = commit_status(repo, source)
    approval = approval_state(repo, mr)
    reasons, conflicts, ff = [], [], False
    if mr.state != "open":
        reasons.append(msg("This merge request is %(state)s.", state=mr.state))
    if source is None:
        reasons.append(msg("The source branch '%(branch)s' is gone.", branch=mr.source_branch))
    if target is None:
        reasons.append(msg("The target branch '%(branch)s' is gone.", branch=mr.target_branch))
    if mr.state == "open" and source and target:
        try:
            state = merging.check(repository_path(repo), target, source)
        except merging.GitFailed:
            state = merging.Mergeability(None, None, unrelated=True)
        conflicts, ff = state.conflicts, state.fast_forward
        if state.unrelated:
            reasons.append(msg("The branches have no common history; git will not merge them."))
        if state.up_to_date:
            reasons.append(msg("There is nothing to merge: the source branch is in the target already."))
        if conflicts:
            reasons.append(msg("The branches conflict in %(num)s file(s).", num=len(conflicts)))
    if mr.draft:
        reasons.append(msg("This merge request is a draft; mark it ready first."))
    if approval["count"] < approval["required"]:
        reasons.append(msg("It needs %(required)s approval(s); it has %(count)s.",
                           required=approval["required"], count=approval["count"]))
    if rule is not None and rule.require_green_pipeline and (pipeline or {}).get("status") != GREEN:
        reasons.append(msg("The pipeline of the source head must succeed first."))
    if not methods:
        reasons.append(msg("The target branch's protection allows no merge method."))
    return MergeStatus(mergeable=not reasons, reasons=reasons, conflicts=conflicts, methods=methods,
                       fast_forward=ff, pipeline=pipeline, approvals=approval, source_sha=source,
                       target_sha=target)


def merge(tenant, repo: Repository, mr: MergeRequest, *, method: str = "merge", actor=None, roles=(),
          sha: str | None = None) -> MergeRequest:
    """Merge with ``method``; ``sha``, when given, must be the source head the caller looked at."""
    if method not in METHODS:
        raise field_error("method", msg("The method is merge, squash or ff."))
    # The request locked: a second merge of it waits, then finds it merged.
    db.session.execute(sa.select(MergeRequest.id).where(MergeRequest.id == mr.id).with_for_update())
    db.session.refresh(mr)
    rule = rule_of(repo, mr)
    if rule is not None and rule.push_roles and not getattr(actor, "is_admin", False) \
            and not set(roles) & set(rule.push_roles):
        raise Forbidden(msg("Only the roles %(roles)s may merge into '%(branch)s'.",
                            roles=", ".join(rule.push_roles), branch=mr.target_branch))
    status = merge_status(repo, mr)
    if method not in status.methods:
        raise Invalid(msg("The protection of '%(branch)s' allows the methods %(methods)s only.",
                          branch=mr.target_branch, methods=", ".join(status.methods) or "-"),
                      errors={"json": {"method": [msg("Not allowed on this branch.")]}})
    if not status.mergeable:
        raise Conflict(msg("This merge request cannot be merged: %(reasons)s",
                           reasons=" ".join(str(r) for r in status.reasons)))
    if sha and sha != status.source_sha:
        raise Conflict(msg("The source branch moved since you looked (now %(sha)s); review it and merge "
                           "again.",
                           sha=(status.source_sha or "")[:10]))
    target, source = status.target_sha, status.source_sha
    base = merging.check(repository_path(repo), target, source).merge_base
    if method == "squash":
        message = (f"{mr.title}\n\n{mr.description}".strip()
                   + f"\n\nSquashed merge request {repo.name}!{mr.number}\n")
    else:
        message = (f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
                   f"See merge request {repo.name}!{mr.number}\n")
    mr.state, mr.merge_method, mr.merged_at = "merged", method, utcnow()
    mr.merged_by, mr.head_sha, mr.base_sha = _name(actor), source, base
    db.session.flush()  # everything of the database first: the ref moves last, or not at all
    try:
        new = merging.merge(repository_path(repo), mr.target_branch, target, source, method, message,
                            name=getattr(actor, "name", "") or "", email=getattr(actor, "email", "") or "")
    except merging.GitFailed as exc:
        raise Conflict(msg("git could not merge: %(error)s", error=str(exc)[:300])) from exc
    mr.merge_sha = new
    ref = f"refs/heads/{mr.target_branch}"
    pusher = {"id": getattr(actor, "user_id", None), "email": getattr(actor, "email", None),
              "name": getattr(actor, "name", None)}
    publish_push(repo, ref, target, new, pusher, push_commits(repo, ref, target, new),
                 key=f"merge-request:{mr.id}:{new}")
    refresh_size(repo)
    db.session.flush()
    _publish(tenant, repo, mr, "merged", actor, merge_sha=new, method=method)
    return mr


def source_pushed(tenant, repo: Repository, ref: str, after: str, pusher_id: int | None) -> int:
    """A push moved ``ref``: each open merge request from that branch follows its new head and
    publishes ``updated`` (``changed: ["head"]``); returns how many. Approvals are not deleted: the
    target's rule decides at read time whether those given on an older head still count."""
    if not ref.startswith("refs/heads/") or set(after) == {"0"}:
        return 0
    branch = ref[len("refs/heads/"):]
    rows = db.session.execute(sa.select(MergeRequest).where(
        MergeRequest.repository_id == repo.id, MergeRequest.state == "open",
        MergeRequest.source_branch == branch)).scalars().all()
    for mr in rows:
        if mr.head_sha == after:
            continue
        mr.head_sha = after
        db.session.flush()
        tenant = tenant if isinstance(tenant, Tenant) else db.session.get(Tenant, repo.tenant_id)
        events.publish(f"{MERGE_REQUEST}.updated", {
            "tenant": tenant.slug, "repository": repo.name, "id": mr.id, "number": mr.number,
            "title": mr.title,
            "state": mr.state, "draft": mr.draft, "source_branch": mr.source_branch,
            "target_branch": mr.target_branch, "author_id": mr.author_id, "actor_id": pusher_id,
            "changed": ["head"], "sha": after}, tenant=tenant)
    return len(rows)


@dataclass
class PushedBy:
    """The pusher of a ``vcs.push`` event, as the actor of what the push did to merge requests."""

    user_id: int | None
    email: str | None
    name: str | None
    is_admin: bool = False


def target_pushed(tenant, repo: Repository, ref: str, before: str, after: str, pusher: dict | None) -> int:
    """A push moved ``ref`` to ``after``: each open merge request into that branch whose source head
    is now in its history (merged locally and pushed) is merged by that push: ``merged_by`` the
    pusher, ``merge_sha`` the new head, method ``push``; ``merged`` is published and audited as for
    a merge made here. Returns how many."""
    if not ref.startswith("refs/heads/") or not _SHA_RE.match(after or "") or set(after) == {"0"}:
        return 0
    branch = ref[len("refs/heads/"):]
    rows = db.session.execute(sa.select(MergeRequest).where(
        MergeRequest.repository_id == repo.id, MergeRequest.state == "open",
        MergeRequest.target_branch == branch).order_by(MergeRequest.number)).scalars().all()
    if not rows:
        return 0
    repo_dir = repository_path(repo)
    pusher = pusher or {}
    actor = PushedBy(pusher.get("id"), pusher.get("email"), pusher.get("name")) if pusher else None
    merged = 0
    for mr in rows:
        source = branch_sha(repo, mr.source_branch) or mr.head_sha
        if not source or not _SHA_RE.match(source) or not merging.contains(repo_dir, after, source):
            continue
        # Locked and read again, as a merge here does: a merge of it under way wins, once.
        db.session.execute(sa.select(MergeRequest.id).where(MergeRequest.id == mr.id).with_for_update())
        db.session.refresh(mr)
        if mr.state != "open":
            continue
        base = None
        if before and _SHA_RE.match(before) and set(before) != {"0"}:
            base = merging.check(repo_dir, before, source).merge_base
        mr.state, mr.merge_method, mr.merged_at = "merged", "push", utcnow()
        mr.merged_by, mr.head_sha, mr.merge_sha = _name(actor), source, after
        mr.base_sha = base or mr.base_sha
        db.session.flush()
        _publish(tenant, repo, mr, "merged", actor, merge_sha=after, method="push")
        merged += 1
    return merged
