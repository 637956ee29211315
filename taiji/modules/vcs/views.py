"""VCS console pages: the repository list, a repository's home, branches and tags, trees,
files, history, commits, comparisons, downloads, and an external repository's settings."""

from __future__ import annotations

import posixpath
from functools import lru_cache

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from taiji.platform import auth, content, tenancy
from taiji.platform.errors import NotFound, msg
from taiji.platform.module import NavItem
from taiji.platform.web import markdown
from taiji.platform.web.console import page_arg, refusals
from taiji.platform.web.text import register_labels

from . import services
from .forms import PROVIDER_CHOICES, PUSH_ROLE_CHOICES, RepositoryForm
from .services import browse, external, lastcommit

bp = Blueprint("vcs", __name__, template_folder="templates")
# How a file changed in a diff (services.browse.FileDiff.status).
CHANGE_LABELS = {"added": _l("New"), "deleted": _l("Deleted"), "renamed": _l("Renamed"),
                 "modified": _l("Modified")}
VISIBILITY_LABELS = {"private": _l("private"), "public": _l("public")}
bp.record_once(lambda state: (register_labels(state.app, "vcs.change", CHANGE_LABELS),
                              register_labels(state.app, "vcs.visibility", VISIBILITY_LABELS),
                              register_labels(state.app, "vcs.push_role", dict(PUSH_ROLE_CHOICES))))
NAV = NavItem(_l("Repositories"), "vcs.repositories", permission="vcs:repository:read", icon="git-branch",
              order=20, group="code")

READ, WRITE, ADMIN = "vcs:repository:read", "vcs:repository:write", "vcs:repository:admin"
REPO = "/t/<tenant>/repositories/<repo>"
# Past this size highlighting costs more than it helps; the text is shown plain.
HIGHLIGHT_LIMIT = 200 * 1024


def _repo(tenant, name: str):
    return services.get_repository(tenant, name)


def _http_url(tenant, repo) -> str:
    return services.http_url(repo, tenant)


def _list_page(tenant, form: RepositoryForm, status: int = 200, created: dict | None = None):
    q = (request.args.get("q") or "").strip()[:63] or None
    page = services.list_repositories(tenant, name=q, page=page_arg())
    return render_template("vcs/repositories.html", page=page, form=form, q=q, created=created,
                           providers=dict(PROVIDER_CHOICES)), status


@bp.get("/t/<tenant>/repositories")
@auth.require(READ)
def repositories(tenant):
    return _list_page(tenant, RepositoryForm())


@bp.post("/t/<tenant>/repositories")
@auth.require(WRITE)
def create_repository(tenant):
    form = RepositoryForm()
    if not form.validate_on_submit():
        return _list_page(tenant, form, 422)
    data = {"name": (form.name.data or "").strip(), "description": form.description.data or ""}
    spec = form.external_spec()
    with refusals(form, "name", names=SERVICE_FIELDS) as outcome:
        if spec is None:
            repo = services.create_repository(tenant, data, actor=auth.current_principal())
        else:
            repo, answer = external.create_external(tenant, {**data, "external": spec},
                                                    actor=auth.current_principal())
    if not outcome.ok:
        return _list_page(tenant, form, 422)
    if spec is None:
        flash(_("Repository %(name)s created.", name=repo.name), "success")
        return redirect(url_for("vcs.repository", tenant=tenant, repo=repo.name))
    # The secret is shown once, on this page; it is stored only encrypted.
    return _home(tenant, repo, secret=answer)


# The service's name of a field -> the form's.
SERVICE_FIELDS = {"mirror_credentials": "password"}


def _home(tenant, repo, secret: dict | None = None, status: int = 200):
    source = external.source_of(repo) if repo.kind == "external" else None
    refs = head = rev = None
    listing: dict = {"readme": None, "readme_html": None, "last": {}}
    entries: list = []
    try:
        empty = browse.is_empty(repo)
    except NotFound:
        empty = True  # an external repository without a mirror (yet): nothing on disk
    if not empty:
        refs = browse.refs(repo)
        rev = refs["default"] or (refs["tags"][0].name if refs["tags"] else None)
        if rev:
            head, entries = browse.tree(repo, rev)
            listing = _listing(repo, head, "", entries, rev)
    return render_template(
        "vcs/repository.html", repo=repo, source=source, secret=secret, repo_empty=empty, refs=refs,
        head=head, entries=entries, rev=rev, **listing,
        head_status=services.commit_status(repo, head.hexsha) if head is not None else None,
        http_url=_http_url(tenant, repo),
        webhook_url=external.webhook_url(source) if source else None,
        deliveries=external.recent_deliveries(source) if source else [],
    ), status


def _in_repository(repo, commit, rev: str, folder: str, link: str) -> str:
    """The console's address of ``link``, written relative to a file in ``folder`` at ``rev``
    (``commit``): a folder's tree page, else the file's page."""
    target, _, anchor = link.partition("#")
    target = target.split("?", 1)[0]
    resolved = posixpath.normpath(posixpath.join(folder or ".", target))
    if resolved == ".." or resolved.startswith("../"):
        return "#"  # outside the repository
    tenant = tenancy.current().slug
    if resolved == ".":
        url = url_for("vcs.tree", tenant=tenant, repo=repo.name, at=rev)
    elif _is_folder(commit, resolved):
        url = url_for("vcs.tree", tenant=tenant, repo=repo.name, at=f"{rev}/{resolved}")
    else:
        url = url_for("vcs.blob", tenant=tenant, repo=repo.name, file_at=f"{rev}/{resolved}")
    return f"{url}#{anchor}" if anchor else url


def _is_folder(commit, path: str) -> bool:
    try:
        return (commit.tree / path).type == "tree"
    except (KeyError, ValueError):
        return False


def _listing(repo, commit, path: str, entries, rev: str | None = None) -> dict:
    """What a directory listing shows besides its entries: each one's last commit, and the README."""
    rev = rev or commit.hexsha
    git_dir = services.local_git_dir(repo)
    last = lastcommit.last_commits(git_dir, commit.hexsha, path, [e.name for e in entries]) if git_dir else {}
    names = {e.name.lower(): e for e in entries if e.kind == "blob"}
    readme = readme_html = None
    for candidate in browse.README_NAMES:
        if candidate in names:
            _, readme = browse.file(repo, commit.hexsha, names[candidate].path)
            break
    if readme is not None and readme.text is not None and readme.path.lower().endswith((".md", ".markdown")):
        readme_html = markdown.render(readme.text,
                                      relative=lambda link: _in_repository(repo, commit, rev, path, link))
    return {"readme": readme, "readme_html": readme_html, "last": last}


@bp.app_context_processor  # the merge request pages (another blueprint) show the same tabs
def _repository_links():
    def repo_pipelines_url(repo) -> str | None:
        """The pipelines of ``repo`` (CI's page, reached by URL: VCS does not import CI)."""
        if "cicd.repository_pipelines" not in current_app.view_functions:
            return None
        return url_for("cicd.repository_pipelines", tenant=tenancy.current().slug, repository=repo.name)

    def repo_component_url(repo) -> str | None:
        """The page of the component ``repo`` was made for (SPM's, by endpoint name: no import)."""
        if not repo.component_ref:
            return None
        product, _, name = repo.component_ref.partition("/")
        tenant = tenancy.current().slug
        if "spm.component" in current_app.view_functions:  # SPM's component page, where it has one
            return url_for("spm.component", tenant=tenant, product=product, component=name)
        if "spm.product" in current_app.view_functions:
            return url_for("spm.product", tenant=tenant, product=product, focus=name)
        return None

    return {"repo_pipelines_url": repo_pipelines_url, "repo_component_url": repo_component_url}


@bp.get(REPO)
@auth.require(READ)
def repository(tenant, repo):
    return _home(tenant, _repo(tenant, repo))


@bp.post(REPO + "/external/fetch")
@auth.require(WRITE)
def fetch_now(tenant, repo):
    row = _repo(tenant, repo)
    source = external.source_of(row)
    if source is None or not source.mirror:
        raise NotFound(msg("This repository keeps no mirror."))
    external.request_fetch(row)
    flash(_("The mirror will be fetched in a moment."), "info")
    return redirect(url_for("vcs.repository", tenant=tenant, repo=repo))


@bp.get(REPO + "/branches")
@auth.require(READ)
def branches(tenant, repo):
    row = _repo(tenant, repo)
    refs, rules = browse.refs(row), services.list_protected(row)
    protected = {b.name for b in refs["branches"] if services.rule_for(rules, f"refs/heads/{b.name}")}
    return render_template("vcs/branches.html", repo=row, refs=refs, protected=protected)


@bp.get(REPO + "/tree/<path:at>")
@auth.require(READ)
def tree(tenant, repo, at):
    row = _repo(tenant, repo)
    rev, path = browse.split_ref(row, at)
    commit, entries = browse.tree(row, rev, path)
    path = browse.check_path(path)
    return render_template("vcs/tree.html", repo=row, rev=rev, path=path, commit=commit, entries=entries,
                           crumbs=_crumbs(path), refs=browse.refs(row),
                           **_listing(row, commit, path, entries, rev))


def _crumbs(path: str) -> list[tuple[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


@bp.get(REPO + "/blob/<path:file_at>")
@auth.require(READ)
def blob(tenant, repo, file_at):
    row = _repo(tenant, repo)
    rev, path = browse.split_ref(row, file_at)
    commit, view = browse.file(row, rev, path)
    rendered = None
    if view.text is not None:
        from pygments import highlight

        # Pygments escapes the file's text itself; what comes back is its markup around that.
        rendered = Markup(highlight(view.text, _lexer(view.path, view.text), _formatter()))  # noqa: S704
    return render_template("vcs/blob.html", repo=row, rev=rev, path=view.path, commit=commit, view=view,
                           rendered=rendered, crumbs=_crumbs(view.path), pygments_css=_pygments_css(),
                           refs=browse.refs(row))


# Pygments is imported when a file is shown: importing it costs every process's start-up.
@lru_cache(maxsize=1)
def _formatter():
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(linenos="table", lineanchors="L", anchorlinenos=True, cssclass="highlight")


@lru_cache(maxsize=1)
def _pygments_css() -> Markup:
    return Markup(_formatter().get_style_defs(".highlight"))  # noqa: S704 - Pygments' own constant CSS


def _lexer(path: str, text: str):
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    if len(text) > HIGHLIGHT_LIMIT:
        return TextLexer()
    try:
        return get_lexer_for_filename(path, text[:4096])
    except ClassNotFound:
        return TextLexer()


@bp.get(REPO + "/raw/<path:file_at>")
@auth.require(READ)
def raw(tenant, repo, file_at):
    row = _repo(tenant, repo)
    rev, path = browse.split_ref(row, file_at)
    size, chunks = browse.raw(row, rev, path)
    # Served as bytes, never as HTML of ours: a file in a repository cannot script the console.
    # ``?inline=1`` (the Raw button) shows it as plain text in the browser: text/plain with nosniff
    # and a sandbox policy, which no browser runs whatever the bytes (platform/content.py).
    response = Response(chunks, headers={"Content-Length": str(size)})
    if request.args.get("inline"):
        return content.harden(response, path.rsplit("/", 1)[-1], "text/plain")
    return content.harden(response, path.rsplit("/", 1)[-1], inline_allowed=False)


@bp.get(REPO + "/commits/<path:ref>")
@auth.require(READ)
def commits(tenant, repo, ref):
    row = _repo(tenant, repo)
    path = browse.check_path(request.args.get("path"))
    page = browse.log(row, ref, path, page=page_arg())
    statuses = services.commit_statuses(row.tenant_id, row.name, [c.sha for c in page.items])
    return render_template("vcs/commits.html", repo=row, rev=ref, path=path, page=page, refs=browse.refs(row),
                           statuses=statuses)


@bp.get(REPO + "/commit/<sha>")
@auth.require(READ)
def commit(tenant, repo, sha):
    row = _repo(tenant, repo)
    info, diff = browse.commit(row, sha)
    return render_template("vcs/commit.html", repo=row, commit=info, diff=diff,
                           status=services.commit_status(row, info.sha))


@bp.get(REPO + "/compare")
@auth.require(READ)
def compare_form(tenant, repo):
    row = _repo(tenant, repo)
    base, head = (request.args.get("base") or "").strip(), (request.args.get("head") or "").strip()
    if base and head:
        return redirect(url_for("vcs.compare", tenant=tenant, repo=repo, spec=f"{base}...{head}"))
    return render_template("vcs/compare.html", repo=row, result=None, refs=browse.refs(row), base=base,
                           head=head)


@bp.get(REPO + "/compare/<path:spec>")
@auth.require(READ)
def compare(tenant, repo, spec):
    row = _repo(tenant, repo)
    base, head = browse.parse_compare_spec(spec)
    result = browse.compare(row, base, head)
    return render_template("vcs/compare.html", repo=row, result=result, refs=browse.refs(row), base=base,
                           head=head)


@bp.get(REPO + "/archive/<path:archive>")
@auth.require(READ)
def archive(tenant, repo, archive):
    row = _repo(tenant, repo)
    for fmt in browse.ARCHIVE_FORMATS:
        if archive.endswith("." + fmt):
            rev = archive[: -len(fmt) - 1]
            break
    else:
        raise NotFound(_("Download an archive as <ref>.tar.gz or <ref>.zip."))
    name, chunks = browse.archive(row, rev, fmt)
    return Response(chunks, mimetype=browse.ARCHIVE_FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


from . import views_settings  # noqa: E402,F401 - the Settings tab's routes, on this blueprint
