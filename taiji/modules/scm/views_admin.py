"""SCM console pages, part four: environment policies (four eyes) and the access keys clients read
configuration with (the token shown once). Shares the blueprint of ``views``."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.errors import NotFound
from taiji.platform.web.console import refusals

from . import services
from .forms import AccessKeyForm, PolicyForm
from .permissions import Perm
from .views import CONFIG, actor, bp

# "-" is no component name: these pages never meet a component's.
POLICIES = CONFIG + "/-/policies"
KEYS = CONFIG + "/-/keys"


def _items(listing) -> list:
    return list(getattr(listing, "items", listing) or [])


def _policies_page(tenant, form=None, status=200):
    return render_template("scm/policies.html", policies=_items(services.list_policies(tenant)),
                           form=form or PolicyForm(formdata=None),
                           can_admin=auth.can(Perm.ADMIN, tenant)), status


@bp.get(POLICIES)
@auth.require(Perm.CONFIG_READ)
def policies(tenant):
    return _policies_page(tenant)


@bp.post(POLICIES)
@auth.require(Perm.ADMIN)
def set_policy(tenant):
    form = PolicyForm()
    if form.validate_on_submit():
        with refusals(form, "environment") as outcome:
            services.set_policy(tenant, actor(), form.environment.data, four_eyes=form.four_eyes.data)
        if outcome.ok:
            flash(_("Policy of %(environment)s saved.", environment=form.environment.data), "success")
            return redirect(url_for("scm.policies", tenant=tenant.slug))
    return _policies_page(tenant, form, 422)


def _keys_page(tenant, form=None, created=None, status=200):
    keys = _items(services.list_access_keys(tenant, include_revoked=True))
    return render_template("scm/keys.html", keys=keys,
                           form=form or AccessKeyForm(formdata=None), created=created), status


@bp.get(KEYS)
@auth.require(Perm.ADMIN)
def access_keys(tenant):
    return _keys_page(tenant)


@bp.post(KEYS)
@auth.require(Perm.ADMIN)
def create_access_key(tenant):
    form = AccessKeyForm()
    if form.validate_on_submit():
        with refusals(form, "environment") as outcome:
            key, token = services.create_access_key(tenant, actor(), form.environment.data,
                                                    form.description.data or "")
        if outcome.ok:  # shown on this answer only: never stored, never shown again
            return _keys_page(tenant, created={"key": key, "token": token})
    return _keys_page(tenant, form, status=422)


@bp.post(KEYS + "/<int:access_key_id>/revoke")
@auth.require(Perm.ADMIN)
def revoke_access_key(tenant, access_key_id):
    with refusals(passes=(NotFound,)) as outcome:  # another tenant's key, or none: a 404
        services.revoke_access_key(tenant, actor(), services.get_access_key(tenant, access_key_id))
    if outcome.ok:
        flash(_("Access key revoked: clients using it are refused from now on."), "success")
    return redirect(url_for("scm.access_keys", tenant=tenant.slug))
