"""CICD console pages: pipeline lists, a pipeline's job graph, a job's live log, the buttons that
run, cancel, retry and play, and the tenant's CI secrets."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _

from taiji.platform import auth, content, live, tenancy
from taiji.platform.db import Page
from taiji.platform.errors import NotFound
from taiji.platform.web.console import page_arg, refusals, refused

from . import logview, services
from .forms import RunPipelineForm, SecretForm, parse_variables
from .models import JOB_DONE, JobStatus, PipelineStatus
from .permissions import Perm

bp = Blueprint("cicd", __name__, template_folder="templates")

PIPELINE = "/t/<tenant>/pipelines/<int:pipeline_id>"
JOB = "/t/<tenant>/jobs/<int:job_id>"
# The log view shows this much of the end of a log, and pages earlier text in pieces this big:
# a 50 MB log never reaches the browser whole.
TAIL = 256 * 1024
POLL_CHUNK = 64 * 1024
STATUSES = [s.value for s in PipelineStatus]


def _filters(repository: str | None = None) -> dict:
    filters = {key: (request.args.get(key) or "").strip() or None for key in ("repository", "status", "ref")}
    if filters["status"] not in (None, *STATUSES):
        filters["status"] = None
    if repository is not None:
        filters["repository"] = repository
    return filters


def _list(tenant, form: RunPipelineForm | None = None, *, repository: str | None = None, status: int = 200):
    filters = _filters(repository)
    try:
        page = services.list_pipelines(tenant, **filters, page=page_arg(), per_page=20)
    except NotFound:
        if repository is not None:
            raise  # the repository's own page: it does not exist
        # A repository name typed into the filter that names none: nothing matches.
        page = Page(items=[], total=0, page=1, page_size=20)
    can_run = auth.can(Perm.PIPELINE_RUN, tenant)
    form = form or RunPipelineForm(repository=filters["repository"] or None)
    picker = _run_picker(tenant, form) if can_run else {}
    return render_template("cicd/pipelines.html", page=page, filters=filters, statuses=STATUSES,
                           form=form, fixed_repository=repository, host_runner=_host_runner(),
                           can_run=can_run, titles=_titles(tenant, page.items), **picker), status


def _titles(tenant, pipelines) -> dict[int, str]:
    """The title line of each pipeline's commit, by pipeline id."""
    return {pid: services.split_message(message)[0]
            for pid, message in services.commit_messages(tenant, pipelines).items()}


def _refs_of(tenant, repository: str | None) -> dict | None:
    if not repository:
        return None
    try:
        return services.repository_refs(tenant, repository)
    except NotFound:
        return None


def _run_picker(tenant, form: RunPipelineForm) -> dict:
    """The run form's choices: the tenant's repositories, and the chosen one's branches and tags
    with its default branch preselected (the ref picker follows the repository with htmx)."""
    names = services.repository_names(tenant)
    if form.repository.data and form.repository.data not in names and any(f.errors for f in form):
        names.append(form.repository.data)  # the refused value stays chosen, under its error
    chosen = form.repository.data if form.repository.data in names else (names[0] if names else None)
    form.repository.choices = [(name, name) for name in names]
    form.repository.data = chosen
    refs = _refs_of(tenant, chosen)
    return {"repository_names": names, "refs": refs,
            "selected_ref": form.ref.data or (refs["default"] if refs else None)}


@bp.get("/t/<tenant>/pipelines/refs")
@auth.require(Perm.PIPELINE_RUN)
def run_refs(tenant):
    """The run form's ref picker for ``?repository=``: its branches and tags (an htmx fragment)."""
    repository = (request.args.get("repository") or "").strip()
    refs = _refs_of(tenant, repository)
    return render_template("cicd/_ref_field.html", refs=refs, selected_ref=refs["default"] if refs else None,
                           errors=[])


def _host_runner(jobs=()) -> bool:
    """Whether to warn that jobs are not isolated: the platform runs jobs on the host, or one of
    these jobs did."""
    return current_app.config.get("CICD_RUNNER") == "host" or any(j.runner == "host" for j in jobs)


@bp.get("/t/<tenant>/pipelines")
@auth.require(Perm.PIPELINE_READ)
def pipelines(tenant):
    return _list(tenant)


@bp.get("/t/<tenant>/repositories/<repository>/pipelines")
@auth.require(Perm.PIPELINE_READ)
def repository_pipelines(tenant, repository):
    return _list(tenant, repository=repository)


@bp.post("/t/<tenant>/pipelines")
@auth.require(Perm.PIPELINE_RUN)
def run(tenant):
    form = RunPipelineForm()
    if form.validate_on_submit():
        with refusals(form, "repository") as outcome:
            pipeline = services.run_pipeline(
                tenant, form.repository.data.strip(), form.ref.data.strip(),
                variables=parse_variables(form.variables.data), actor=auth.current_principal(),
                trigger="manual")
        if outcome.ok:
            flash(_("Pipeline #%(n)s started.", n=pipeline.number), "success")
            return redirect(url_for("cicd.pipeline", tenant=tenant, pipeline_id=pipeline.id))
    return _list(tenant, form, status=422)


# -- a pipeline ---------------------------------------------------------------------------------

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 190, 48, 56, 14, 8


def job_graph(jobs) -> dict:
    """Columns by depth in the ``needs`` DAG (a job sits one column right of its deepest need),
    with the SVG coordinates of each box and of each edge's curve."""
    by_name = {job.name: job for job in jobs}
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset = frozenset()) -> int:
        if name not in depth:
            needs = [n for n in (by_name[name].needs or []) if n in by_name and n not in seen]
            depth[name] = 1 + max((depth_of(n, seen | {name}) for n in needs), default=-1)
        return depth[name]

    columns: dict[int, list] = {}
    for job in jobs:
        columns.setdefault(depth_of(job.name), []).append(job)
    nodes, where = [], {}
    for column, members in sorted(columns.items()):
        for row, job in enumerate(members):
            x, y = PAD + column * (NODE_W + COL_GAP), PAD + row * (NODE_H + ROW_GAP)
            where[job.name] = (x, y)
            nodes.append({"job": job, "x": x, "y": y})
    edges = []
    for job in jobs:
        x2, y2 = where[job.name]
        for need in job.needs or []:
            if need not in where:
                continue
            x1, y1 = where[need]
            sx, sy, ex, ey = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
            mid = (sx + ex) / 2
            edges.append(f"M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}")
    width = PAD * 2 + max(len(columns), 1) * (NODE_W + COL_GAP) - COL_GAP
    height = PAD * 2 + max((len(m) for m in columns.values()), default=1) * (NODE_H + ROW_GAP) - ROW_GAP
    return {"nodes": nodes, "edges": edges, "width": width, "height": height, "w": NODE_W, "h": NODE_H}


def _pipeline_context(tenant, pipeline) -> dict:
    return {"pipeline": pipeline, "jobs": pipeline.jobs, "graph": job_graph(pipeline.jobs),
            "live": not pipeline.done, "can_run": auth.can(Perm.PIPELINE_RUN, tenant),
            "retryable": services.retryable(pipeline), "host_runner": _host_runner(pipeline.jobs)}


@bp.get(PIPELINE)
@auth.require(Perm.PIPELINE_READ)
def pipeline(tenant, pipeline_id):
    item = services.get_pipeline(tenant, pipeline_id)
    context = _pipeline_context(tenant, item)
    if request.headers.get("HX-Request"):
        # The polled part only; it stops polling by itself once the pipeline is finished. The
        # header's status and buttons come along out of band (htmx's hx-swap-oob; taiji.js does
        # the same for a refresh driven by the live stream).
        return render_template("cicd/_pipeline_live.html", **context, oob=True)
    message = services.commit_messages(tenant, [item]).get(item.id)
    title, body = services.split_message(message) if message is not None else (None, None)
    return render_template("cicd/pipeline.html", **context, commit_title=title, commit_body=body)


@bp.post(PIPELINE + "/<action>")
@auth.require(Perm.PIPELINE_RUN)
def pipeline_action(tenant, pipeline_id, action):
    item = services.get_pipeline(tenant, pipeline_id)
    actions = {"cancel": services.cancel_pipeline, "retry": services.retry_pipeline}
    if action not in actions:
        abort(404)
    with refusals(message=refused) as outcome:
        result = actions[action](tenant, item.id, actor=auth.current_principal())
    if not outcome.ok:
        return redirect(url_for("cicd.pipeline", tenant=tenant, pipeline_id=pipeline_id))
    if action == "retry":
        flash(_("Pipeline #%(n)s runs the same commit again.", n=result.number), "success")
        return redirect(url_for("cicd.pipeline", tenant=tenant, pipeline_id=result.id))
    flash(_("Pipeline canceled."), "success")
    return redirect(url_for("cicd.pipeline", tenant=tenant, pipeline_id=pipeline_id))


@bp.get(PIPELINE + "/live")
@auth.require(Perm.PIPELINE_READ)
@live.endpoint
def pipeline_live(tenant, pipeline_id):
    """Server-sent events of the job graph: ``state`` (the pipeline's and each job's status) when
    anything changes, ``end`` once the pipeline has finished."""
    item = services.get_pipeline(tenant, pipeline_id)
    tenant_id, pipeline_id = tenant.id, item.id

    def step(last):
        row = services.get_pipeline(_tenant(tenant_id), pipeline_id)
        state = {"status": row.status, "done": row.done,
                 "jobs": {job.name: job.status for job in row.jobs}}
        events = [live.Event(state, "state")] if state != last else []
        return live.Round(events, state, finished=row.done)

    return live.stream([services.pipeline_topic(tenant_id, pipeline_id)], step,
                       still_allowed=_can_read(tenant_id))


def _tenant(tenant_id: int):
    """The stream's tenant, read afresh in each round (the request's row is long detached)."""
    from taiji.platform.db import db

    return db.session.get(tenancy.Tenant, tenant_id)


def _can_read(tenant_id: int):
    def check() -> bool:
        tenant = _tenant(tenant_id)
        principal = auth.current_principal()
        return (tenant is not None and principal is not None
                and (tenant.is_active or principal.is_admin) and auth.can(Perm.PIPELINE_READ, tenant))

    return check


# -- a job and its log ----------------------------------------------------------------------------


def _after_first_line(text: str) -> int:
    """Characters up to and including the first newline (0 when there is none): a page that
    starts mid-line drops that partial line, which belongs to the page before it."""
    return text.find("\n") + 1


def _bytes(text: str) -> int:
    """How far ``text`` moves a log offset: the engine counts UTF-8 bytes."""
    return len(text.encode("utf-8", errors="replace"))


def _read_window(job, start: int, end: int) -> tuple[str, int]:
    """The log text between two offsets, starting at a line boundary when ``start`` > 0."""
    text, _next, _done = services.read_log(job, offset=start, limit=end - start)
    if start > 0:
        cut = _after_first_line(text)
        start += _bytes(text[:cut])
        text = text[cut:]
    return text, start


def _log_html(job, text: str, start: int, line_start: bool | None = None) -> str:
    """The console's HTML of log text that begins at byte ``start``: numbered, timed lines."""
    if not text:
        return ""
    if line_start is None:
        line_start = services.at_line_start(job, start)
    times = services.chunk_times(job, start, start + _bytes(text))
    return logview.render(text, offset=start, times=times, line_start=line_start)


def _job_context(tenant, job) -> dict:
    from .jenkins.builds import latest_build

    return {"job": job, "pipeline": job.pipeline, "live": job.status not in JOB_DONE,
            "can_run": auth.can(Perm.PIPELINE_RUN, tenant), "manual": job.status == JobStatus.MANUAL,
            "jenkins_build": latest_build(job) if job.runner == "jenkins" else None}


@bp.get(JOB)
@auth.require(Perm.PIPELINE_READ)
def job(tenant, job_id):
    item = services.get_job(tenant, job_id)
    context = _job_context(tenant, item)
    if request.headers.get("HX-Request"):
        return render_template("cicd/_job_summary.html", **context)
    size = services.log_size(item)
    start = max(0, size - TAIL)
    text, start = _read_window(item, start, size) if size else ("", 0)
    html = _log_html(item, text, start, line_start=True)
    return render_template("cicd/job.html", **context, log_html=html, log_start=start, log_end=size,
                           log_size=size, log_lines=services.lines_before(item, start))


@bp.get(JOB + "/log")
@auth.require(Perm.PIPELINE_READ)
def log(tenant, job_id):
    """htmx fragments of the log: ``?offset=N`` the text written since N (the live tail),
    ``?before=N`` the page that ends at N ("load earlier")."""
    item = services.get_job(tenant, job_id)
    before = request.args.get("before", type=int)
    if before is not None:
        before = max(0, min(before, services.log_size(item)))
        text, start = _read_window(item, max(0, before - TAIL), before) if before else ("", 0)
        return render_template("cicd/_log_earlier.html", job=item, html=_log_html(item, text, start, True),
                               start=start, lines=services.lines_before(item, start))
    offset = max(0, request.args.get("offset", 0, type=int) or 0)
    text, next_offset, done = services.read_log(item, offset=offset, limit=POLL_CHUNK)
    more = next_offset < services.log_size(item)
    return render_template("cicd/_log_tail.html", job=item, html=_log_html(item, text, offset),
                           offset=next_offset, done=done and not more, more=more)


@bp.get(JOB + "/live")
@auth.require(Perm.PIPELINE_READ)
@live.endpoint
def job_live(tenant, job_id):
    """Server-sent events of a job: ``state`` when its status changes, ``log`` for each page of new
    output (its id is the byte offset after it, so a reconnecting EventSource resumes from its
    Last-Event-ID; a first connection starts at ``?offset``, else 0), ``end`` once the job has
    finished and all of its log was sent. ``?format=html`` sends the console's HTML of the text."""
    item = services.get_job(tenant, job_id)
    tenant_id, job_id = tenant.id, item.id
    start = live.last_event_id() or request.args.get("offset") or "0"
    try:
        offset = max(0, int(start))
    except ValueError:
        abort(400, description="Last-Event-ID (or offset) must be a byte offset into the log.")
    as_html = request.args.get("format") == "html"

    def step(cursor):
        position, last_status, line_start = cursor
        job = services.get_job(_tenant(tenant_id), job_id)
        events = []
        if job.status != last_status:
            events.append(live.Event({"status": job.status, "done": job.done}, "state"))
        text, next_offset, _done = services.read_log(job, offset=position, limit=POLL_CHUNK)
        if next_offset > position:
            data = {"offset": position, "next": next_offset}
            if as_html:
                data["html"] = _log_html(job, text, position, line_start)
            else:
                data["text"] = text
            events.append(live.Event(data, "log", id=str(next_offset)))
            line_start = text.endswith("\n")
        more = next_offset > position and next_offset < job.log_size
        finished = job.done and not more and next_offset >= job.log_size
        return live.Round(events, (next_offset, job.status, line_start), finished=finished, more=more)

    return live.stream([services.job_topic(item)], step, (offset, None, None),
                       still_allowed=_can_read(tenant_id))


@bp.get(JOB + "/log.txt")
@auth.require(Perm.PIPELINE_READ)
def raw_log(tenant, job_id):
    """The whole log as plain text, streamed in pieces (escape codes kept, as written)."""
    item = services.get_job(tenant, job_id)
    end = services.log_size(item)

    def pieces():
        offset = 0
        while offset < end:
            text, next_offset, _done = services.read_log(item, offset=offset, limit=POLL_CHUNK)
            if next_offset <= offset:
                break
            yield text.encode("utf-8", errors="replace")
            offset = next_offset

    filename = f"{item.pipeline.repository}-{item.pipeline.number}-{item.name}.log"
    return Response(stream_with_context(pieces()), mimetype="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "X-Content-Type-Options": "nosniff"})


@bp.get(JOB + "/artifacts/<int:artifact_id>")
@auth.require(Perm.PIPELINE_READ)
def artifact(tenant, job_id, artifact_id):
    item = services.get_job(tenant, job_id)
    row = services.get_artifact(item, artifact_id)
    path = services.artifact_file(item, artifact_id)
    # A job writes whatever it likes (an .html report, an .svg): always a download, never a page.
    return content.send_user_file(path, row.path.rsplit("/", 1)[-1], etag=row.sha256, inline_allowed=False)


@bp.post(JOB + "/<action>")
@auth.require(Perm.PIPELINE_RUN)
def job_action(tenant, job_id, action):
    item = services.get_job(tenant, job_id)
    actions = {"cancel": services.cancel_job, "retry": services.retry_job, "play": services.play_job}
    if action not in actions:
        abort(404)
    with refusals(message=refused) as outcome:
        actions[action](tenant, item.id, actor=auth.current_principal())
    if outcome.ok:
        flash({"cancel": _("Job canceled."), "retry": _("The job runs again."),
               "play": _("The job is started.")}[action], "success")
    if request.form.get("back") == "pipeline":  # played from the pipeline page: stay there
        return redirect(url_for("cicd.pipeline", tenant=tenant, pipeline_id=item.pipeline_id))
    return redirect(url_for("cicd.job", tenant=tenant, job_id=job_id))


# -- secrets --------------------------------------------------------------------------------------


def _secrets_page(tenant, form: SecretForm | None = None, status: int = 200):
    return render_template("cicd/secrets.html", secrets=services.list_secrets(tenant, per_page=100).items,
                           form=form or SecretForm()), status


@bp.get("/t/<tenant>/pipelines/secrets")
@auth.require(Perm.SECRET_WRITE)
def secrets(tenant):
    return _secrets_page(tenant)


@bp.post("/t/<tenant>/pipelines/secrets")
@auth.require(Perm.SECRET_WRITE)
def set_secret(tenant):
    form = SecretForm()
    if form.validate_on_submit():
        with refusals(form, "name") as outcome:
            services.set_secret(tenant, form.name.data, form.value.data,
                                repository=(form.repository.data or "").strip() or None,
                                protected=form.protected.data, actor=auth.current_principal())
        if outcome.ok:
            flash(_("Secret %(name)s saved.", name=form.name.data), "success")
            return redirect(url_for("cicd.secrets", tenant=tenant))
    return _secrets_page(tenant, form, 422)


@bp.post("/t/<tenant>/pipelines/secrets/delete")
@auth.require(Perm.SECRET_WRITE)
def delete_secret(tenant):
    name = request.form.get("name") or ""
    with refusals(message=refused) as outcome:
        services.delete_secret(tenant, name, repository=request.form.get("repository") or None,
                               actor=auth.current_principal())
    if outcome.ok:
        flash(_("Secret %(name)s deleted.", name=name), "success")
    return redirect(url_for("cicd.secrets", tenant=tenant))
