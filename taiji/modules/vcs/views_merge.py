"""Console pages of merge requests: the list of a repository, opening one (from the compare view
too), and its page with the tabs Overview, Commits and Changes (inline threads through htmx), and
the buttons to approve, merge, close or reopen — with the reasons when merging is not possible."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from taiji.platform import auth
from taiji.platform.web.console import FieldErrors, page_arg, refusals
from taiji.platform.web.markdown import render as markdown
from taiji.platform.web.text import register_labels

from . import services
from .services import browse
from .services import merge_requests as mrs

bp = Blueprint("vcs_mr", __name__, template_folder="templates")
READ, WRITE = "vcs:repository:read", "vcs:repository:write"
REPO = "/t/<tenant>/repositories/<repo>"
MR = REPO + "/merge-requests/<int:number>"

STATE_LABELS = {"open": _l("Open"), "closed": _l("Closed"), "merged": _l("Merged"), "all": _l("All")}
METHOD_LABELS = {"merge": _l("Merge commit"), "squash": _l("Squash and merge"), "ff": _l("Fast-forward"),
                 "push": _l("merged outside Taiji and pushed")}
PIPELINE_LABELS = {"created": _l("created"), "pending": _l("pending"), "running": _l("running"),
                   "succeeded": _l("passed"), "failed": _l("failed"), "canceled": _l("canceled"),
                   "manual": _l("manual"), "skipped": _l("skipped")}
WHY_LABELS = {"author": _l("the author's own: does not count"),
              "role": _l("from a role whose approvals do not count"),
              "stale": _l("given before the latest push: does not count")}
bp.record_once(lambda state: (register_labels(state.app, "vcs.mr_state", STATE_LABELS),
                              register_labels(state.app, "vcs.merge_method", METHOD_LABELS),
                              register_labels(state.app, "vcs.pipeline", PIPELINE_LABELS),
                              register_labels(state.app, "vcs.approval_why", WHY_LABELS)))
TABS = ("overview", "commits", "changes")


def _load(tenant, repo, number):
    row = services.get_repository(tenant, repo)
    return row, mrs.get_merge_request(row, number)


def _back(tenant, repo, number, tab="overview", anchor=None):
    url = url_for("vcs_mr.merge_request", tenant=tenant, repo=repo, number=number,
                  tab=None if tab == "overview" else tab)
    return redirect(url + (f"#{anchor}" if anchor else ""))


@bp.get(REPO + "/merge-requests")
@auth.require(READ)
def merge_requests(tenant, repo):
    row = services.get_repository(tenant, repo)
    state = request.args.get("state") or "open"
    if state not in STATE_LABELS:
        state = "open"
    page = mrs.list_merge_requests(row, state=state, page=page_arg())
    return render_template("vcs/merge_list.html", repo=row, page=page, state=state, states=STATE_LABELS)


def _new_page(tenant, row, values: dict, errors: FieldErrors | None = None, status: int = 200):
    refs = browse.refs(row)
    form = errors or FieldErrors("title", "description", "source_branch", "target_branch")
    return render_template("vcs/merge_new.html", repo=row, refs=refs, values=values, form=form), status


@bp.get(REPO + "/merge-requests/new")
@auth.require(WRITE)
def new_merge_request(tenant, repo):
    row = services.get_repository(tenant, repo)
    source = (request.args.get("source") or "").strip()[:200]
    target = (request.args.get("target") or "").strip()[:200] or row.default_branch
    title = ""
    if source and mrs.branch_sha(row, source):
        title = source.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ").capitalize()
    return _new_page(tenant, row, {"source_branch": source, "target_branch": target, "title": title,
                                   "description": "", "draft": False})


@bp.post(REPO + "/merge-requests")
@auth.require(WRITE)
def open_merge_request(tenant, repo):
    row = services.get_repository(tenant, repo)
    form = request.form
    values = {"title": (form.get("title") or "")[:300], "description": form.get("description") or "",
              "source_branch": form.get("source_branch") or "",
              "target_branch": form.get("target_branch") or "", "draft": bool(form.get("draft"))}
    errors = FieldErrors("title", "description", "source_branch", "target_branch")
    with refusals(errors) as outcome:
        mr = mrs.open_merge_request(tenant, row, values, actor=auth.current_principal())
    if not outcome.ok:
        return _new_page(tenant, row, values, errors, outcome.status)
    flash(_("Merge request !%(number)s is open.", number=mr.number), "success")
    return redirect(url_for("vcs_mr.merge_request", tenant=tenant, repo=repo, number=mr.number))


def _line_threads(threads) -> dict:
    placed: dict = {}
    for thread in threads:
        if thread.inline:
            placed.setdefault((thread.root.path, thread.root.side, thread.root.line), []).append(thread)
    return placed


@bp.get(MR)
@auth.require(READ)
def merge_request(tenant, repo, number):
    row, mr = _load(tenant, repo, number)
    tab = request.args.get("tab") or "overview"
    if tab not in TABS:
        abort(404)
    threads = mrs.threads(mr)
    result = mrs.changes(row, mr)
    status = mrs.merge_status(row, mr)
    me = auth.current_principal()
    approved = any(a["user_id"] == me.user_id for a in status.approvals["approvals"])
    return render_template(
        "vcs/merge_request.html", repo=row, mr=mr, tab=tab, result=result, status=status, threads=threads,
        general=[t for t in threads if not t.inline], inline_count=sum(1 for t in threads if t.inline),
        line_threads=_line_threads(threads), markdown=markdown, approved=approved,
        is_author=me.user_id == mr.author_id,
        can_write=auth.can(WRITE, tenant), pipeline_url=_pipeline_url(tenant, status.pipeline))


def _pipeline_url(tenant, pipeline: dict | None) -> str | None:
    # The pipeline page is CI's; VCS knows only its address (no import of the higher module).
    return f"/t/{tenant}/pipelines/{pipeline['pipeline']}" if pipeline else None


@bp.get(MR + "/line-form")
@auth.require(WRITE)
def line_form(tenant, repo, number):
    row, mr = _load(tenant, repo, number)
    path, side = (request.args.get("path") or "")[:1024], request.args.get("side") or "new"
    line = request.args.get("line", type=int)
    if not path or side not in ("old", "new") or not line or line < 1:
        return ""  # no line named: nothing to insert
    return render_template("vcs/merge_line_form.html", repo=row, mr=mr, path=path, side=side, line=line)


@bp.post(MR + "/notes")
@auth.require(WRITE)
def add_note(tenant, repo, number):
    row, mr = _load(tenant, repo, number)
    data = {"body": request.form.get("body") or ""}
    reply_to = request.form.get("reply_to", type=int)
    if reply_to:
        data["reply_to"] = reply_to
    elif request.form.get("path"):
        data.update(path=request.form.get("path"), line=request.form.get("line", type=int),
                    side=request.form.get("side") or "new")
    htmx = request.headers.get("HX-Request") == "true"
    with refusals(quiet=htmx) as outcome:
        note = mrs.add_note(tenant, row, mr, data, actor=auth.current_principal())
    if htmx:
        if not outcome.ok:
            return render_template("vcs/merge_line_form.html", repo=row, mr=mr, path=data.get("path"),
                                   side=data.get("side"), line=data.get("line"), reply_to=reply_to,
                                   body=data["body"], error=outcome.message), outcome.status
        root = note.reply_to_id or note.id
        thread = next(t for t in mrs.threads(mr) if t.root.id == root)
        return render_template("vcs/merge_thread.html", repo=row, mr=mr, thread=thread, markdown=markdown,
                               can_write=True, as_row=bool(thread.inline))
    if outcome.ok:
        flash(_("Your comment is added."), "success")
    tab = "changes" if data.get("path") else "overview"
    return _back(tenant, repo, number, tab)


@bp.post(MR + "/threads/<int:thread_id>/resolve")
@auth.require(WRITE)
def resolve(tenant, repo, number, thread_id):
    row, mr = _load(tenant, repo, number)
    resolved = request.form.get("resolved", "1") == "1"
    with refusals():
        root = mrs.resolve_thread(tenant, row, mr, thread_id, resolved, actor=auth.current_principal())
        if request.headers.get("HX-Request") == "true":
            thread = next(t for t in mrs.threads(mr) if t.root.id == root.id)
            return render_template("vcs/merge_thread.html", repo=row, mr=mr, thread=thread, markdown=markdown,
                                   can_write=True, as_row=bool(thread.inline))
    return _back(tenant, repo, number, request.form.get("tab") or "overview")


@bp.post(MR + "/approve")
@auth.require(WRITE)
def approve(tenant, repo, number):
    row, mr = _load(tenant, repo, number)
    principal = auth.current_principal()
    with refusals() as outcome:
        if request.form.get("undo"):
            mrs.unapprove(tenant, row, mr, actor=principal)
        else:
            mrs.approve(tenant, row, mr, actor=principal, roles=tuple(auth.access(tenant).roles))
    if outcome.ok:
        flash(_("Your approval is withdrawn.") if request.form.get("undo")
              else _("You approved this merge request."), "success")
    return _back(tenant, repo, number)


@bp.post(MR + "/merge")
@auth.require(WRITE)
def merge(tenant, repo, number):
    row, mr = _load(tenant, repo, number)
    with refusals() as outcome:
        mrs.merge(tenant, row, mr, method=request.form.get("method") or "merge",
                  sha=request.form.get("sha") or None, actor=auth.current_principal(),
                  roles=tuple(auth.access(tenant).roles))
    if outcome.ok:
        flash(_("Merged into %(branch)s.", branch=mr.target_branch), "success")
    return _back(tenant, repo, number)


@bp.post(MR + "/state")
@auth.require(WRITE)
def change_state(tenant, repo, number):
    row, mr = _load(tenant, repo, number)
    data = {}
    if request.form.get("state") in ("open", "closed"):
        data["state"] = request.form["state"]
    if request.form.get("draft") in ("0", "1"):
        data["draft"] = request.form["draft"] == "1"
    if "title" in request.form:
        data["title"] = request.form.get("title") or ""
    if "description" in request.form:
        data["description"] = request.form.get("description") or ""
    with refusals() as outcome:
        mrs.update_merge_request(tenant, row, mr, data, actor=auth.current_principal())
    if outcome.ok:
        flash(_("The merge request is updated."), "success")
    return _back(tenant, repo, number)
