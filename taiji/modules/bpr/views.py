"""BPR console pages: the repository list, a repository (files or packages, how to use it,
settings, retention), a package and a file."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from taiji.platform import auth
from taiji.platform.db import Page
from taiji.platform.errors import NotFound
from taiji.platform.web.console import page_arg, refusals

from . import services
from .forms import RepositoryForm, SettingsForm, YankForm, settings_of
from .permissions import Perm

bp = Blueprint("bpr", __name__, template_folder="templates")

LIST = "/t/<tenant>/packages"
REPO = LIST + "/<bpr_repo>"
FILE = REPO + "/files/<int:bpr_file>"
PACKAGE_FILES_PAGE = 50  # a package's files on one page, newest version first


def _list_page(tenant, form, status=200):
    q = (request.args.get("q") or "").strip()[:100] or None
    page = services.list_repositories(tenant, q=q, page=page_arg())
    return render_template(
        "bpr/repositories.html", page=page, form=form, q=q, used=services.storage_used(tenant)
    ), status


@bp.get(LIST)
@auth.require(Perm.PACKAGE_READ)
def repositories(tenant):
    return _list_page(tenant, RepositoryForm(formdata=None))


@bp.post(LIST)
@auth.require(Perm.REPOSITORY_ADMIN)
def create_repository(tenant):
    form = RepositoryForm()
    if form.validate_on_submit():
        with refusals(form, "name") as outcome:
            repository = services.create_repository(
                tenant,
                {"name": form.name.data, "kind": form.kind.data, **settings_of(form, form.kind.data)},
            )
        if outcome.ok:
            flash(_("Repository %(name)s created.", name=repository.name), "success")
            return redirect(url_for("bpr.repository", tenant=tenant, bpr_repo=repository.name))
    return _list_page(tenant, form, 422)


def _repository_page(tenant, repository, settings_form=None, status=200):
    q = (request.args.get("q") or "").strip()[:200] or None
    if repository.kind == "pypi":
        listing = services.list_packages(repository, q=q, page=page_arg())
    else:
        listing = services.list_files(repository, q=q, page=page_arg())
    form = settings_form or SettingsForm(formdata=None, obj=repository)
    can_admin = auth.can(Perm.REPOSITORY_ADMIN, tenant)
    plan = services.retention_plan(tenant, repository) if can_admin else []
    return render_template(
        "bpr/repository.html",
        repository=repository,
        listing=listing,
        q=q,
        form=form,
        plan=plan,
        url=services.repository_url(tenant, repository),
        base=current_app.config["BASE_URL"].rstrip("/"),
        plan_bytes=sum(i["file"].size for i in plan),
        can_admin=can_admin,
    ), status


@bp.get(REPO)
@auth.require(Perm.PACKAGE_READ)
def repository(tenant, bpr_repo):
    return _repository_page(tenant, services.get_repository(tenant, bpr_repo))


@bp.post(REPO + "/settings")
@auth.require(Perm.REPOSITORY_ADMIN)
def settings(tenant, bpr_repo):
    item = services.get_repository(tenant, bpr_repo)
    form = SettingsForm()
    if form.validate_on_submit():
        with refusals(form, "description") as outcome:
            services.update_repository(tenant, item, settings_of(form, item.kind))
        if outcome.ok:
            flash(_("Settings of %(name)s saved.", name=item.name), "success")
            return redirect(url_for("bpr.repository", tenant=tenant, bpr_repo=bpr_repo))
    return _repository_page(tenant, item, form, 422)


@bp.post(REPO + "/retention")
@auth.require(Perm.REPOSITORY_ADMIN)
def apply_retention(tenant, bpr_repo):
    item = services.get_repository(tenant, bpr_repo)
    deleted = services.apply_retention(tenant, item)
    flash(ngettext("Retention deleted %(num)s file.", "Retention deleted %(num)s files.", len(deleted)),
          "success")
    return redirect(url_for("bpr.repository", tenant=tenant, bpr_repo=bpr_repo))


@bp.post(REPO + "/delete")
@auth.require(Perm.REPOSITORY_ADMIN)
def delete_repository(tenant, bpr_repo):
    item = services.get_repository(tenant, bpr_repo)
    services.delete_repository(tenant, item)
    flash(_("Repository %(name)s deleted.", name=bpr_repo), "success")
    return redirect(url_for("bpr.repositories", tenant=tenant))


@bp.get(REPO + "/packages/<bpr_package>")
@auth.require(Perm.PACKAGE_READ)
def package(tenant, bpr_repo, bpr_package):
    item = services.get_repository(tenant, bpr_repo)
    rows = services.project_files(item, services.normalize(bpr_package)) if item.kind == "pypi" else []
    if not rows:
        raise NotFound(_("No package '%(name)s' in this repository.", name=bpr_package))
    # Newest version first, one page of the package's files at a time.
    ordered = sorted(rows, key=lambda f: f.version, reverse=True)
    number = page_arg()
    start = (number - 1) * PACKAGE_FILES_PAGE
    files = Page(items=ordered[start:start + PACKAGE_FILES_PAGE], total=len(ordered), page=number,
                 page_size=PACKAGE_FILES_PAGE)
    return render_template(
        "bpr/package.html",
        repository=item,
        name=rows[0].package,
        files=files,
        url=services.repository_url(tenant, item),
        can_admin=auth.can(Perm.REPOSITORY_ADMIN, tenant),
    )


@bp.get(FILE)
@auth.require(Perm.PACKAGE_READ)
def file(tenant, bpr_repo, bpr_file):
    item = services.get_repository(tenant, bpr_repo)
    row = services.get_file(item, bpr_file)
    return render_template(
        "bpr/file.html",
        repository=item,
        row=row,
        form=YankForm(formdata=None),
        download=services.file_url(tenant, item, row),
        can_admin=auth.can(Perm.REPOSITORY_ADMIN, tenant),
    )


@bp.post(FILE + "/yank")
@auth.require(Perm.REPOSITORY_ADMIN)
def yank(tenant, bpr_repo, bpr_file):
    item = services.get_repository(tenant, bpr_repo)
    row = services.get_file(item, bpr_file)
    form = YankForm()
    form.validate_on_submit()
    with refusals(category="danger") as outcome:
        services.set_yanked(tenant, item, row, not row.yanked, form.reason.data)
    if outcome.ok:
        flash(
            _("%(file)s yanked.", file=row.filename)
            if row.yanked
            else _("%(file)s unyanked.", file=row.filename),
            "success",
        )
    return redirect(url_for("bpr.file", tenant=tenant, bpr_repo=bpr_repo, bpr_file=bpr_file))


@bp.post(FILE + "/delete")
@auth.require(Perm.REPOSITORY_ADMIN)
def delete_file(tenant, bpr_repo, bpr_file):
    item = services.get_repository(tenant, bpr_repo)
    row = services.get_file(item, bpr_file)
    services.delete_file(tenant, item, row)
    flash(_("%(file)s deleted.", file=row.filename), "success")
    return redirect(url_for("bpr.repository", tenant=tenant, bpr_repo=bpr_repo))
