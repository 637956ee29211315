"""A repository's Settings tab: description, default branch, visibility and component; protected
branches; an external repository's address, mirror and webhook secret; delete, and restore from the
bin (platform administrators, within seven days). Every change goes through the services, which
audit it; their refusals are shown on the form that asked."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.errors import NotFound, msg
from taiji.platform.web.console import page_arg, refusals

from . import services
from .forms import DeleteForm, ExternalForm, GeneralForm, ProtectionForm
from .services import browse, external
from .views import ADMIN, REPO, SERVICE_FIELDS, WRITE, bp

SETTINGS = REPO + "/settings"


def _general_form(repo, branches: list[str], form: GeneralForm | None = None) -> GeneralForm:
    if form is None:
        form = GeneralForm(data={"description": repo.description, "default_branch": repo.default_branch,
                                 "visibility": repo.visibility, "component": repo.component_ref or ""})
    choices = list(dict.fromkeys([repo.default_branch, *branches]))
    form.default_branch.choices = [(b, b) for b in choices]
    return form


def _branches(repo) -> list[str]:
    try:
        return [b.name for b in browse.refs(repo)["branches"]]
    except NotFound:  # nothing on disk yet (an external repository without its mirror)
        return []


def _page(tenant, repo, *, general: GeneralForm | None = None, protection: ProtectionForm | None = None,
          edit: tuple[int, ProtectionForm] | None = None, external_form: ExternalForm | None = None,
          delete: DeleteForm | None = None, secret: dict | None = None, status: int = 200):
    source = external.source_of(repo) if repo.kind == "external" else None
    if source is not None and external_form is None:
        external_form = ExternalForm(data={"url": source.url, "mirror": source.mirror,
                                           "mirror_interval_s": source.mirror_interval_s})
    rules = services.list_protected(repo)
    edits = {}
    for rule in rules:
        if edit is not None and edit[0] == rule.id:
            edits[rule.id] = edit[1]
        else:
            edits[rule.id] = ProtectionForm.of(rule, prefix=f"rule{rule.id}")
    return render_template(
        "vcs/settings.html", repo=repo, general=_general_form(repo, _branches(repo), general),
        protection=protection or ProtectionForm(), rules=rules, edits=edits, source=source,
        external_form=external_form, webhook_url=external.webhook_url(source) if source else None,
        delete=delete or DeleteForm(), secret=secret,
    ), status


def _back(tenant, repo: str):
    return redirect(url_for("vcs.settings", tenant=tenant, repo=repo))


@bp.get(SETTINGS)
@auth.require(WRITE)
def settings(tenant, repo):
    return _page(tenant, services.get_repository(tenant, repo))


@bp.post(SETTINGS)
@auth.require(WRITE)
def update_settings(tenant, repo):
    row = services.get_repository(tenant, repo)
    form = _general_form(row, _branches(row), GeneralForm())
    if not form.validate_on_submit():
        return _page(tenant, row, general=form, status=422)
    data = {"description": form.description.data or "", "default_branch": form.default_branch.data or "",
            "component": (form.component.data or "").strip() or None}
    if form.visibility.data != row.visibility:
        if not auth.can(ADMIN, tenant):
            form.visibility.errors = [_("You need the permission %(perm)s to change the visibility.",
                                        perm=ADMIN)]
            return _page(tenant, row, general=form, status=422)
        data["visibility"] = form.visibility.data
    current = {"description": row.description, "default_branch": row.default_branch,
               "visibility": row.visibility, "component": row.component_ref}
    data = {key: value for key, value in data.items() if value != current[key]}  # only what changed
    if data:
        with refusals(form) as outcome:
            services.update_repository(tenant, row, data, actor=auth.current_principal())
        if not outcome.ok:
            return _page(tenant, row, general=form, status=422)
    flash(_("The repository's settings are saved."), "success")
    return _back(tenant, repo)


@bp.post(SETTINGS + "/protected-branches")
@auth.require(ADMIN)
def add_protection(tenant, repo):
    row = services.get_repository(tenant, repo)
    form = ProtectionForm()
    if form.validate_on_submit():
        with refusals(form, "pattern") as outcome:
            services.protect(tenant, row, form.changes(), actor=auth.current_principal())
        if outcome.ok:
            flash(_("Branches matching %(pattern)s are protected.", pattern=form.pattern.data.strip()),
                  "success")
            return _back(tenant, repo)
    return _page(tenant, row, protection=form, status=422)


@bp.post(SETTINGS + "/protected-branches/<int:rule_id>")
@auth.require(ADMIN)
def update_protection(tenant, repo, rule_id):
    row = services.get_repository(tenant, repo)
    rule = services.get_protected(row, rule_id)
    form = ProtectionForm(prefix=f"rule{rule.id}")
    if form.validate_on_submit():
        with refusals(form, "pattern") as outcome:
            services.update_protection(tenant, row, rule, form.changes(), actor=auth.current_principal())
        if outcome.ok:
            flash(_("The protection of %(pattern)s is saved.", pattern=rule.pattern), "success")
            return _back(tenant, repo)
    return _page(tenant, row, edit=(rule.id, form), status=422)


@bp.post(SETTINGS + "/protected-branches/<int:rule_id>/delete")
@auth.require(ADMIN)
def remove_protection(tenant, repo, rule_id):
    row = services.get_repository(tenant, repo)
    rule = services.get_protected(row, rule_id)
    pattern = rule.pattern
    with refusals() as outcome:
        services.unprotect(tenant, row, rule, actor=auth.current_principal())
    if outcome.ok:
        flash(_("%(pattern)s is no longer protected.", pattern=pattern), "success")
    return _back(tenant, repo)


@bp.post(SETTINGS + "/delete")
@auth.require(ADMIN)
def delete_repository(tenant, repo):
    row = services.get_repository(tenant, repo)
    form = DeleteForm()
    if not form.validate_on_submit():
        return _page(tenant, row, delete=form, status=422)
    if (form.confirm.data or "").strip() != row.name:
        form.confirm.errors = [_("Type %(name)s exactly to delete this repository.", name=row.name)]
        return _page(tenant, row, delete=form, status=422)
    with refusals(form, "confirm") as outcome:
        services.delete_repository(tenant, row, actor=auth.current_principal())
    if not outcome.ok:
        return _page(tenant, row, delete=form, status=422)
    flash(_("Repository %(name)s is deleted. A platform administrator can restore it for 7 days.",
            name=row.name), "warning")
    return redirect(url_for("vcs.repositories", tenant=tenant))


# -- an external repository's address, mirror and webhook secret --------------------------------


def _external_row(tenant, repo: str):
    row = services.get_repository(tenant, repo)
    if external.source_of(row) is None:
        raise NotFound(msg("This repository has no external source."))
    return row


@bp.post(REPO + "/external")
@auth.require(ADMIN)
def update_external(tenant, repo):
    row = _external_row(tenant, repo)
    form = ExternalForm()
    if form.validate_on_submit():
        with refusals(form, "url", names=SERVICE_FIELDS) as outcome:
            external.update_source(tenant, row, form.changes(), actor=auth.current_principal())
        if outcome.ok:
            flash(_("The external repository's settings are saved."), "success")
            return _back(tenant, repo)
    return _page(tenant, row, external_form=form, status=422)


@bp.post(REPO + "/external/secret")
@auth.require(ADMIN)
def rotate_secret(tenant, repo):
    row = _external_row(tenant, repo)
    answer = external.rotate_secret(tenant, row, actor=auth.current_principal())
    flash(_("A new webhook secret is in force; paste it into the forge now. The old one no longer works."),
          "warning")
    return _page(tenant, row, secret=answer)


# -- the bin ------------------------------------------------------------------------------------


@bp.get("/t/<tenant>/repositories/-/deleted")  # "-" starts no repository name
@auth.require(ADMIN)
def deleted_repositories(tenant):
    page = services.list_repositories(tenant, deleted=True, page=page_arg())
    return render_template("vcs/deleted.html", page=page,
                           can_restore=bool(getattr(auth.current_principal(), "is_admin", False)))


@bp.post(REPO + "/restore")
@auth.require(ADMIN)
def restore_repository(tenant, repo):
    principal = auth.current_principal()
    services.get_repository(tenant, repo, include_deleted=True)  # a name the tenant never had: 404
    if not getattr(principal, "is_admin", False):
        abort(403)
    with refusals() as outcome:
        services.restore_repository(tenant, repo, actor=principal)
    if outcome.ok:
        flash(_("Repository %(name)s is restored.", name=repo), "success")
        return redirect(url_for("vcs.repository", tenant=tenant, repo=repo))
    return redirect(url_for("vcs.deleted_repositories", tenant=tenant))

