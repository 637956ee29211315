"""The wire protocols: generic files at ``/bpr/<tenant>/<repo>/<path>`` (PUT, GET, HEAD,
DELETE) and the Python package index at ``/pypi/<tenant>/<repo>/`` (PEP 503 HTML, PEP 691
JSON, twine uploads).

These URLs take ``tenant_slug`` rather than ``tenant``: a public repository is read without
signing in, so the kernel's "members only" gate cannot run first; the kernel's protocol helper
(taiji.platform.protocol_auth) applies the same rule (anonymous: 401 for anything not public;
someone else's private repository: 404).
Clients authenticate with a token, as Bearer or as the password of HTTP Basic (``__token__``
for twine); the console's session may read, never write (the routes are CSRF-exempt).
"""

from __future__ import annotations

import json
import math
from urllib.parse import quote

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, NotAcceptable
from werkzeug.http import HTTP_STATUS_CODES

from taiji.platform import api, auth, content, protocol_auth
from taiji.platform.errors import Invalid, NotFound, ServiceError, msg
from taiji.platform.limits import body_limit
from taiji.platform.quotas import QuotaExceeded

from . import services
from .permissions import Perm
from .storage import storage

bp = Blueprint("bpr_protocol", __name__, template_folder="templates")

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
REPO = "/<tenant_slug>/<repo_name>"
# Room for an upload form's fields and boundaries besides the file itself.
FORM_SLACK = 1024 * 1024


# -- errors: plain problem+json for pip, twine and curl, never the console's HTML or login page --


def _problem(status: int, title: str, detail: str, headers: dict | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": api.problem_title(title),
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": g.get("request_id"),
    }
    response = Response(
        json.dumps(body), status=status, mimetype="application/problem+json", headers=headers or {}
    )
    # twine shows the status line's reason to the user: make it the explanation. A reason phrase
    # is visible Latin-1 only (RFC 9110): a NUL or line break the client sent must not reach it.
    reason = "".join(ch if ch == "\t" or 32 <= ord(ch) < 127 or 160 <= ord(ch) < 256 else "?"
                     for ch in detail[:300])
    response.status = f"{status} {reason}"
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    headers = dict((getattr(error, "data", None) or {}).get("headers") or {})
    if error.code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="taiji"'
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return _problem(error.code or 500, error.name, error.description or error.name, headers)


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError):
    from taiji.platform.db import db

    db.session.rollback()
    return _problem(error.status, error.title, error.detail)


@bp.errorhandler(QuotaExceeded)
def _quota_error(error: QuotaExceeded):
    from taiji.platform.db import db

    db.session.rollback()
    return _problem(413, "Payload Too Large", str(error))


# -- who is calling -----------------------------------------------------------------------------

PROTOCOL = protocol_auth.Protocol(
    realm="taiji",
    session_reads=True,
    bad_credentials=msg("The token is not valid (use a personal access token as the password)."),
    anonymous=msg("Sign in with a token to use this repository."),
    session_write=msg("Uploads and deletions need a token (Bearer, or Basic with the token as password)."),
    not_found=msg("No repository '%(repo_name)s' in tenant '%(tenant_slug)s'."),
)


@bp.errorhandler(protocol_auth.Refusal)
def _refused(refusal: protocol_auth.Refusal):
    return _problem(refusal.status, HTTP_STATUS_CODES.get(refusal.status, "Error"), refusal.detail,
                    refusal.headers)


def _find(repo_name: str):
    def find(tenant):
        if "\x00" in repo_name:  # no repository has one, and PostgreSQL refuses it in a query
            return None
        return services.find_repository(tenant, repo_name)

    return find


def _resolve(tenant_slug: str, repo_name: str, permission: str):
    """The tenant and repository, if the caller may use them with ``permission``."""
    granted = protocol_auth.authorize(
        PROTOCOL, permission, writing=permission != Perm.PACKAGE_READ, tenant_slug=tenant_slug,
        find=_find(repo_name), is_public=lambda repository: repository.is_public)
    return granted.tenant, granted.resource


def _actor():
    return auth.current_principal()


# -- generic files ------------------------------------------------------------------------------


def _send(repository, row) -> Response:
    # A file's stored type is the uploader's word: content.py decides what a browser may show.
    response = content.send_user_file(
        storage().local_path(row.storage_key), row.filename, row.content_type, etag=row.sha256
    )
    response.headers["X-Checksum-Sha256"] = row.sha256
    return response


def _find_generic(repository, path: str):
    # A path no upload could have stored names nothing (and could not be queried on PostgreSQL).
    return None if "\x00" in path else services.find_file(repository, path.strip("/"))


@bp.get("/bpr" + REPO + "/<path:path>")
@auth.protocol(Perm.PACKAGE_READ)
def generic_get(tenant_slug, repo_name, path):
    _tenant, repository = _resolve(tenant_slug, repo_name, Perm.PACKAGE_READ)
    if repository.kind != "generic":
        raise NotFound(msg("'%(repo_name)s' is a package index; its files are under /pypi/.",
                           repo_name=repo_name))
    row = _find_generic(repository, path)
    if row is None:
        raise NotFound(msg("No file '%(path)s' in '%(repo_name)s'.", path=path, repo_name=repo_name))
    return _send(repository, row)


@bp.put("/bpr" + REPO + "/<path:path>")
@auth.protocol(Perm.PACKAGE_WRITE)
@body_limit(None)  # streamed to disk, bounded by the storage quota (services.write_stream)
def generic_put(tenant_slug, repo_name, path):
    tenant, repository = _resolve(tenant_slug, repo_name, Perm.PACKAGE_WRITE)
    row = services.store_generic(
        tenant,
        repository,
        path,
        request.stream,
        length=request.content_length,
        content_type=request.mimetype or None,
        actor=_actor(),
    )
    body = services.describe(tenant, repository, row)
    return Response(
        json.dumps(body),
        status=201,
        mimetype="application/json",
        headers={"Location": body["url"], "X-Checksum-Sha256": row.sha256},
    )


@bp.delete("/bpr" + REPO + "/<path:path>")
@auth.protocol(Perm.REPOSITORY_ADMIN)
def generic_delete(tenant_slug, repo_name, path):
    tenant, repository = _resolve(tenant_slug, repo_name, Perm.REPOSITORY_ADMIN)
    row = _find_generic(repository, path)
    if row is None:
        raise NotFound(msg("No file '%(path)s' in '%(repo_name)s'.", path=path, repo_name=repo_name))
    services.delete_file(tenant, repository, row, actor=_actor())
    return Response(status=204)


# -- the Python package index -------------------------------------------------------------------


# PEP 691: the "latest" names stand for v1 while v1 is the only version; the answer names v1.
_ALIASES = {
    JSON_V1: JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    "text/html": "text/html",
}


def _accepted(header: str) -> list[tuple[str, float]]:
    """(media type, quality) of each entry of an Accept header; parameters other than q ignored."""
    entries = []
    for item in header.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                quality = max(0.0, min(1.0, quality)) if math.isfinite(quality) else 0.0
        entries.append((media.lower(), quality))
    return entries


def _negotiate() -> str | None:
    """The simple API's format for this request's Accept (PEP 691), or None when none is acceptable.

    Each format takes the quality of the most specific entry naming it (its own name or alias,
    then ``type/*``, then ``*/*``). Between equals an exact name prefers JSON, a wildcard the
    plain HTML that every old client understands; no Accept at all is ``text/html``."""
    header = request.headers.get("Accept", "").strip()
    if not header:
        return "text/html"
    best, best_key = None, None
    for offer in (JSON_V1, HTML_V1, "text/html"):
        match = None  # (specificity, quality)
        for media, quality in _accepted(header):
            if _ALIASES.get(media) == offer:
                specificity = 2
            elif media == offer.split("/")[0] + "/*":
                specificity = 1
            elif media == "*/*":
                specificity = 0
            else:
                continue
            if match is None or (specificity, quality) > match:
                match = (specificity, quality)
        if match is None or match[1] <= 0:
            continue
        specificity, quality = match
        preference = (JSON_V1, HTML_V1, "text/html") if specificity else ("text/html", HTML_V1, JSON_V1)
        key = (quality, specificity, -preference.index(offer))
        if best_key is None or key > best_key:
            best, best_key = offer, key
    return best


def _pypi(tenant_slug, repo_name, permission=Perm.PACKAGE_READ):
    tenant, repository = _resolve(tenant_slug, repo_name, permission)
    if repository.kind != "pypi":
        raise NotFound(msg("'%(repo_name)s' is a generic repository, not a package index.",
                           repo_name=repo_name))
    return tenant, repository


def _negotiated(payload: dict, template: str, **context) -> Response:
    chosen = _negotiate()
    if chosen is None:
        raise NotAcceptable(
            f"The simple API answers {JSON_V1}, {HTML_V1} (or their 'latest' names) and text/html."
        )
    if chosen == JSON_V1:
        response = Response(json.dumps(payload), mimetype=JSON_V1)
    else:
        response = Response(render_template(template, **context))
        response.headers["Content-Type"] = f"{chosen}; charset=utf-8"
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/pypi" + REPO + "/simple/")
@auth.protocol(Perm.PACKAGE_READ)
def simple_root(tenant_slug, repo_name):
    _tenant, repository = _pypi(tenant_slug, repo_name)
    names = services.project_names(repository)
    payload = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
    return _negotiated(payload, "bpr/simple_root.html", names=names, repository=repository)


@bp.get("/pypi" + REPO + "/simple/<project>/")
@auth.protocol(Perm.PACKAGE_READ)
def simple_project(tenant_slug, repo_name, project):
    _tenant, repository = _pypi(tenant_slug, repo_name)
    normalized = services.normalize(project)
    if normalized != project:
        return redirect(
            url_for(".simple_project", tenant_slug=tenant_slug, repo_name=repo_name, project=normalized), 301
        )
    rows = services.project_files(repository, normalized)
    if not rows:
        raise NotFound(msg("No project '%(project)s' in '%(repo_name)s'.",
                           project=project, repo_name=repo_name))
    # One url_for for the page rather than one per file: the link list is the hot path of pip.
    files_root = (
        url_for(".simple_root", tenant_slug=tenant_slug, repo_name=repo_name)[: -len("simple/")] + "files/"
    )
    files = []
    for row in rows:
        url = files_root + quote(row.package) + "/" + quote(row.filename)
        files.append(
            {
                "filename": row.filename,
                "url": url,
                "hashes": {"sha256": row.sha256},
                "requires-python": row.requires_python,
                "yanked": (row.yank_reason or True) if row.yanked else False,
                "size": row.size,
                "upload-time": row.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    payload = {
        "meta": {"api-version": "1.1"},
        "name": normalized,
        "files": files,
        "versions": sorted({r.version for r in rows}),
    }
    return _negotiated(payload, "bpr/simple_project.html", name=normalized, files=files)


@bp.get("/pypi" + REPO + "/files/<package>/<filename>")
@auth.protocol(Perm.PACKAGE_READ)
def package_file(tenant_slug, repo_name, package, filename):
    _tenant, repository = _pypi(tenant_slug, repo_name)
    row = services.find_file(repository, f"{package}/{filename}")
    if row is None:
        raise NotFound(msg("No file '%(filename)s' in '%(repo_name)s'.",
                           filename=filename, repo_name=repo_name))
    return _send(repository, row)


@bp.post("/pypi" + REPO + "/")
@auth.protocol(Perm.PACKAGE_WRITE)
@body_limit(None)  # set in the view, once the repository and its quota are known
def upload(tenant_slug, repo_name):
    """twine's legacy upload API: multipart form, ``:action=file_upload``, the file in ``content``."""
    tenant, repository = _pypi(tenant_slug, repo_name, Perm.PACKAGE_WRITE)
    room = services.remaining_bytes(tenant)
    if room is not None:
        # The form is parsed (its file spooled to disk) before store_package can weigh the file
        # against the quota: stop reading there already.
        request.max_content_length = room + FORM_SLACK
    form = request.form
    if form.get(":action", "file_upload") != "file_upload":
        raise ServiceError(msg("Unsupported action '%(action)s'; only file_upload is.",
                               action=form.get(':action')[:50]))
    part = request.files.get("content")
    if part is None or not part.filename:
        raise ServiceError(msg("No file: send the distribution in the 'content' part."))
    # Nothing stores a NUL (PostgreSQL refuses it), and no distribution's metadata has one.
    unstorable = sorted(key for key, value in form.items(multi=True) if "\x00" in value)
    if "\x00" in part.filename:
        unstorable.insert(0, "content")
    if unstorable:
        raise Invalid(
            msg("The upload has a NUL character in %(unstorable)s; nothing was stored.",
                unstorable=', '.join(unstorable)[:200]),
            errors={key: [msg("Must not contain the NUL character.")] for key in unstorable[:20]},
        )
    part.stream.seek(0, 2)
    length = part.stream.tell()
    part.stream.seek(0)
    meta = {"requires_python": form.get("requires_python"), "summary": form.get("summary")}
    services.store_package(
        tenant,
        repository,
        part.filename,
        part.stream,
        length=length,
        name=form.get("name"),
        version=form.get("version"),
        sha256=form.get("sha256_digest") or None,
        meta=meta,
        actor=_actor(),
    )
    return Response("OK", status=200, mimetype="text/plain")
