"""Console pages of Jenkins controllers (register, change, test, remove; their jobs with last builds,
trigger one) and of a repository's default runner."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import refusals, refused

from ..forms import parse_variables
from ..permissions import Perm
from ..services import runner_settings
from . import controllers
from .forms import ControllerForm, RunnerForm, TriggerForm

bp = Blueprint("cicd_jenkins", __name__, template_folder="../templates")

LIST = "/t/<tenant>/pipelines/jenkins"
ITEM = LIST + "/<controller>"


def _form_data(form: ControllerForm, *, creating: bool) -> dict:
    data = {
        "url": form.url.data,
        "username": form.username.data,
        "description": form.description.data or "",
        "is_default": form.is_default.data,
    }
    if creating:
        data["name"] = form.name.data
    if form.token.data:
        data["token"] = form.token.data
    return data


def _list_page(tenant, form: ControllerForm | None = None, status: int = 200):
    return render_template(
        "cicd/jenkins_controllers.html",
        controllers=controllers.list_controllers(tenant),
        form=form or ControllerForm(),
        can_manage=auth.can(Perm.RUNNER_MANAGE, tenant),
    ), status


@bp.get(LIST)
@auth.require(Perm.PIPELINE_READ)
def controllers_page(tenant):
    return _list_page(tenant)


@bp.post(LIST)
@auth.require(Perm.RUNNER_MANAGE)
def create(tenant):
    form = ControllerForm()
    if form.validate_on_submit():
        if not form.token.data:
            form.token.errors.append(_("Give the user's API token."))
        else:
            with refusals(form, "url") as outcome:
                row = controllers.create_controller(
                    tenant, _form_data(form, creating=True), actor=auth.current_principal()
                )
            if outcome.ok:
                flash(_("Jenkins controller %(name)s registered.", name=row.name), "success")
                return redirect(url_for("cicd_jenkins.controller", tenant=tenant, controller=row.name))
    return _list_page(tenant, form, 422)


def _item_page(
    tenant, row, form: ControllerForm | None = None, trigger: TriggerForm | None = None, status: int = 200
):
    form = form or ControllerForm(obj=row)
    return render_template(
        "cicd/jenkins_controller.html",
        controller=row,
        form=form,
        trigger_form=trigger or TriggerForm(),
        can_manage=auth.can(Perm.RUNNER_MANAGE, tenant),
    ), status


@bp.get(ITEM)
@auth.require(Perm.PIPELINE_READ)
def controller(tenant, controller):
    return _item_page(tenant, controllers.get_controller(tenant, controller))


@bp.post(ITEM)
@auth.require(Perm.RUNNER_MANAGE)
def update(tenant, controller):
    row = controllers.get_controller(tenant, controller)
    form = ControllerForm(name=row.name)
    form.name.data = row.name
    if form.validate_on_submit():
        with refusals(form, "url") as outcome:
            controllers.update_controller(
                tenant, row, _form_data(form, creating=False), actor=auth.current_principal()
            )
        if outcome.ok:
            flash(_("Jenkins controller %(name)s saved.", name=row.name), "success")
            return redirect(url_for("cicd_jenkins.controller", tenant=tenant, controller=row.name))
    return _item_page(tenant, row, form, status=422)


@bp.post(ITEM + "/test")
@auth.require(Perm.RUNNER_MANAGE)
def test(tenant, controller):
    row = controllers.get_controller(tenant, controller)
    result = controllers.test_connection(tenant, row, actor=auth.current_principal())
    flash(result["message"], "success" if result["ok"] else "error")
    return redirect(url_for("cicd_jenkins.controller", tenant=tenant, controller=row.name))


@bp.post(ITEM + "/delete")
@auth.require(Perm.RUNNER_MANAGE)
def delete(tenant, controller):
    row = controllers.get_controller(tenant, controller)
    controllers.delete_controller(tenant, row, actor=auth.current_principal())
    flash(_("Jenkins controller %(name)s removed.", name=controller), "success")
    return redirect(url_for("cicd_jenkins.controllers_page", tenant=tenant))


@bp.get(ITEM + "/jobs")
@auth.require(Perm.PIPELINE_READ)
def jobs(tenant, controller):
    """htmx fragment: the controller's jobs with their last builds (asked of the controller now)."""
    row = controllers.get_controller(tenant, controller)
    found = []
    with refusals(quiet=True) as outcome:  # the controller's refusal, said in the fragment
        found = controllers.list_remote_jobs(tenant, row)
    error = outcome.message
    return render_template(
        "cicd/_jenkins_jobs.html",
        controller=row,
        jobs=found,
        error=error,
        trigger_form=TriggerForm(),
        can_manage=auth.can(Perm.RUNNER_MANAGE, tenant),
    )


@bp.post(ITEM + "/jobs/<path:jenkins_job>/build")
@auth.require(Perm.RUNNER_MANAGE)
def build(tenant, controller, jenkins_job):
    row = controllers.get_controller(tenant, controller)
    form = TriggerForm()
    if not form.validate_on_submit():
        flash(" ".join(form.parameters.errors) or _("Refused: the form expired; try again."), "error")
    else:
        with refusals(message=refused) as outcome:
            queued = controllers.trigger_remote_job(
                tenant, row, jenkins_job, parse_variables(form.parameters.data),
                actor=auth.current_principal(),
            )
        if outcome.ok:
            flash(
                _("Jenkins queued %(job)s (queue item %(n)s).", job=jenkins_job, n=queued["queue_id"]),
                "success",
            )
    return redirect(url_for("cicd_jenkins.controller", tenant=tenant, controller=row.name))


# -- a repository's default runner ------------------------------------------------------------------

SETTINGS = "/t/<tenant>/repositories/<repository>/pipelines/settings"


def _settings_page(tenant, repository: str, form: RunnerForm | None = None, status: int = 200):
    current = runner_settings.get_settings(tenant, repository)
    if form is None:
        form = RunnerForm(
            default_runner=current.default_runner or "platform",
            jenkins_controller=current.jenkins_controller or "",
        )
    form.jenkins_controller.choices = [("", _("The tenant's default controller"))] + [
        (c.name, c.name) for c in controllers.list_controllers(tenant)
    ]
    return render_template(
        "cicd/repository_settings.html",
        repository=repository,
        form=form,
        settings=current,
        can_manage=auth.can(Perm.RUNNER_MANAGE, tenant),
    ), status


@bp.get(SETTINGS)
@auth.require(Perm.PIPELINE_READ)
def repository_settings(tenant, repository):
    return _settings_page(tenant, repository)


@bp.post(SETTINGS)
@auth.require(Perm.RUNNER_MANAGE)
def save_repository_settings(tenant, repository):
    runner_settings.get_settings(tenant, repository)  # 404 for a repository the tenant does not have
    form = RunnerForm()
    if form.validate_on_submit():
        data = {
            "default_runner": form.default_runner.data,
            "jenkins_controller": form.jenkins_controller.data
            if form.default_runner.data == "jenkins"
            else None,
        }
        with refusals(form, "default_runner") as outcome:
            runner_settings.set_settings(tenant, repository, data, actor=auth.current_principal())
        if outcome.ok:
            flash(_("The default runner of %(repo)s is saved.", repo=repository), "success")
            return redirect(url_for("cicd_jenkins.repository_settings", tenant=tenant, repository=repository))
    return _settings_page(tenant, repository, form, 422)
