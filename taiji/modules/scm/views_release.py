"""SCM console pages, part two: the Diff tab (the draft against the current release, and the publish
form), the Releases tab (rollback; approve or reject under four eyes; promote or abandon a gray
release) and the Instances tab. Shares the blueprint of ``views``."""

from __future__ import annotations

from flask import flash, redirect, render_template
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import page_arg, refusals

from . import services
from .forms import CommentForm, PublishForm
from .permissions import Perm
from .views import PAGE, actor, bp, target

RELEASE = PAGE + "/releases/<int:release_number>"


def _items(listing) -> list:
    return list(getattr(listing, "items", listing) or [])


def _diff_page(t, form=None, status=200):
    return render_template(
        "scm/diff.html", t=t, tab="diff", changes=services.diff(t.tenant, t.component, t.environment),
        current=services.current_release(t.tenant, t.component, t.environment),
        form=form or PublishForm(formdata=None), can_publish=auth.can(Perm.CONFIG_PUBLISH, t.tenant),
    ), status


@bp.get(PAGE + "/diff")
@auth.require(Perm.CONFIG_READ)
def diff(tenant, component, environment):
    return _diff_page(target(tenant, component, environment))


@bp.post(PAGE + "/releases")
@auth.require(Perm.CONFIG_PUBLISH)
def publish(tenant, component, environment):
    t = target(tenant, component, environment)
    form = PublishForm()
    if form.validate_on_submit():
        with refusals(form, names={"gray": "selector"}) as outcome:
            release = services.publish(tenant, actor(), t.component, t.environment,
                                       comment=form.comment.data or "", gray=form.gray_value())
        if outcome.ok:
            words = {
                "pending": _("Release #%(number)s awaits the approval of another person.",
                             number=release.number),
                "gray": _("Release #%(number)s is published to some instances (gray).",
                          number=release.number),
            }
            flash(words.get(release.status) or _("Release #%(number)s published.", number=release.number),
                  "success")
            return redirect(t.url("scm.releases"))
    return _diff_page(t, form, 422)


def _releases_page(t, status=200):
    page = services.list_releases(t.tenant, t.component, t.environment, page=page_arg(), page_size=20)
    instances = _items(services.list_instances(t.tenant, t.component, t.environment))
    holders: dict[int, list] = {}
    for row in instances:
        holders.setdefault(row.release_number, []).append(row)
    principal = auth.current_principal()
    return render_template(
        "scm/releases.html", t=t, tab="releases", page=page, holders=holders,
        current=services.current_release(t.tenant, t.component, t.environment),
        me=getattr(principal, "user_id", None), can_publish=auth.can(Perm.CONFIG_PUBLISH, t.tenant),
        form=CommentForm(formdata=None),
    ), status


@bp.get(PAGE + "/releases")
@auth.require(Perm.CONFIG_READ)
def releases(tenant, component, environment):
    return _releases_page(target(tenant, component, environment))


def _act(tenant, component, environment, number, action: str, done: str):
    """Run a release action (``services.<action>``) and come back to the Releases tab."""
    t = target(tenant, component, environment)
    release = services.get_release(tenant, t.component, t.environment, number)
    form = CommentForm()
    with refusals() as outcome:
        if action == "rollback":
            made = services.rollback(tenant, actor(), release, comment=form.comment.data or "")
        else:
            made = getattr(services, action)(tenant, actor(), release)
    if outcome.ok:
        flash(done % {"number": number, "made": made.number}, "success")
    return redirect(t.url("scm.releases"))


@bp.post(RELEASE + "/rollback")
@auth.require(Perm.CONFIG_PUBLISH)
def rollback(tenant, component, environment, release_number):
    return _act(tenant, component, environment, release_number, "rollback",
                _("Rolled back to release #%(number)s: release #%(made)s is current."))


@bp.post(RELEASE + "/approve")
@auth.require(Perm.CONFIG_PUBLISH)
def approve(tenant, component, environment, release_number):
    return _act(tenant, component, environment, release_number, "approve",
                _("Release #%(number)s approved and published."))


@bp.post(RELEASE + "/reject")
@auth.require(Perm.CONFIG_PUBLISH)
def reject(tenant, component, environment, release_number):
    return _act(tenant, component, environment, release_number, "reject", _("Release #%(number)s rejected."))


@bp.post(RELEASE + "/promote")
@auth.require(Perm.CONFIG_PUBLISH)
def promote(tenant, component, environment, release_number):
    return _act(tenant, component, environment, release_number, "promote",
                _("Release #%(number)s promoted: every instance gets it."))


@bp.post(RELEASE + "/abandon")
@auth.require(Perm.CONFIG_PUBLISH)
def abandon(tenant, component, environment, release_number):
    return _act(tenant, component, environment, release_number, "abandon",
                _("Release #%(number)s abandoned: its instances go back to the current release."))


@bp.get(PAGE + "/instances")
@auth.require(Perm.CONFIG_READ)
def instances(tenant, component, environment):
    t = target(tenant, component, environment)
    return render_template(
        "scm/instances.html", t=t, tab="instances",
        instances=_items(services.list_instances(t.tenant, t.component, t.environment)),
        current=services.current_release(t.tenant, t.component, t.environment),
    )
