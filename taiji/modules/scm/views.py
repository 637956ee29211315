"""SCM console pages, part one: the components that have configuration, and the Draft tab of a
component in an environment (the resolved view, setting, editing and deleting items, revealing a
secret to who may read it). The other tabs are in ``views_release`` and ``views_more``; the
environment policies and access keys in ``views_admin``. They share this blueprint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import page_arg, refusals
from taiji.platform.web.text import register_labels

from . import services
from .forms import (
    ACTION_LABELS,
    CHANGE_LABELS,
    ENVIRONMENT,
    LAYER_LABELS,
    STATUS_LABELS,
    TYPE_LABELS,
    ItemForm,
    ItemRefForm,
    LabelsForm,
    StartForm,
)
from .permissions import Perm

bp = Blueprint("scm", __name__, template_folder="templates")
bp.record_once(lambda state: (
    register_labels(state.app, "scm.layer", LAYER_LABELS),
    register_labels(state.app, "scm.type", TYPE_LABELS),
    register_labels(state.app, "scm.status", STATUS_LABELS),
    register_labels(state.app, "scm.action", ACTION_LABELS),
    register_labels(state.app, "scm.change", CHANGE_LABELS),
))

CONFIG = "/t/<tenant>/config"
PAGE = CONFIG + "/<component>/<environment>"
LAYER_BADGES = {"tenant": "bg-purple-lt", "product": "bg-azure-lt", "component": "bg-teal-lt",
                "environment": "bg-green-lt", "label": "bg-orange-lt"}


def shown(value, kind: str | None = None, *, pretty: bool = False) -> str:
    """A typed value as a person reads and types it: JSON for json (and lists, objects), true or
    false for a bool, the text itself otherwise."""
    if value is None:
        return ""
    if kind == "json" or isinstance(value, dict | list | bool):
        return json.dumps(value, ensure_ascii=False, indent=2 if pretty else None, sort_keys=True)
    return str(value)


@bp.context_processor
def _helpers():
    return {"shown": shown, "layer_badges": LAYER_BADGES}


def ref_of(component) -> str:
    """How SCM's URLs name an SPM component: ``product:name``, never ambiguous."""
    return f"{component.product.slug}:{component.name}"


@dataclass
class Target:
    """The component and environment a tab page is about, as its URL named them."""

    tenant: object
    component: object  # SPM's component
    ref: str  # the URL's spelling
    environment: str

    def url(self, endpoint: str, **values) -> str:
        return url_for(endpoint, tenant=self.tenant.slug, component=self.ref, environment=self.environment,
                       **values)


def target(tenant, component: str, environment: str) -> Target:
    """The page's component (404 when none, 409 when the name is ambiguous) and environment."""
    if not re.match(ENVIRONMENT, environment or ""):
        abort(404)
    return Target(tenant, services.resolve_component(tenant, component), component, environment)


def actor():
    return auth.current_principal()


# --- the components that have configuration -------------------------------------------------


def _components_page(tenant, form: StartForm, status: int = 200):
    from taiji.modules.spm import services as spm

    known = spm.list_components(tenant, None, page=1, page_size=200).items
    return render_template("scm/components.html", page=services.list_configured(tenant, page=page_arg()),
                           form=form, known=[ref_of(c) for c in known]), status


@bp.get(CONFIG)
@auth.require(Perm.CONFIG_READ)
def components(tenant):
    return _components_page(tenant, StartForm(formdata=None))


@bp.post(CONFIG)
@auth.require(Perm.CONFIG_READ)
def start(tenant):
    """Open a component's configuration in an environment (nothing is stored until an item is set)."""
    form = StartForm()
    if form.validate_on_submit():
        with refusals(form, "component") as outcome:
            found = services.resolve_component(tenant, form.component.data)
        if outcome.ok:
            return redirect(url_for("scm.draft", tenant=tenant.slug, component=ref_of(found),
                                    environment=form.environment.data))
    return _components_page(tenant, form, 422)


@bp.get(CONFIG + "/<component>")
@auth.require(Perm.CONFIG_READ)
def switch(tenant, component):
    """Choose the environment to open the component in; with ``?environment=`` its Draft tab."""
    found = services.resolve_component(tenant, component)
    form = StartForm(request.args, meta={"csrf": False}, data={"component": ref_of(found)})
    form.component.data = ref_of(found)
    if "environment" in request.args:
        if form.validate():
            return redirect(url_for("scm.draft", tenant=tenant.slug, component=ref_of(found),
                                    environment=form.environment.data))
        return render_template("scm/open.html", component=found, form=form), 422
    return render_template("scm/open.html", component=found, form=form)


# --- the Draft tab --------------------------------------------------------------------------


def _draft_page(t: Target, *, item_form=None, revealed=None, status=200):
    labels_form = LabelsForm(request.args)
    labels = (labels_form.labels.data or "").strip() or None
    resolved = None
    if labels:
        with refusals(labels_form, "labels") as outcome:
            resolved = services.draft(t.tenant, t.component, t.environment, labels=labels)
        if not outcome.ok:
            status = max(status, 422)
    if resolved is None:
        resolved = services.draft(t.tenant, t.component, t.environment)
    if item_form is None:
        item_form = ItemForm(formdata=None)
    return render_template(
        "scm/draft.html", t=t, tab="draft", resolved=resolved, item_form=item_form,
        labels_form=labels_form, labels=labels, revealed=revealed or {},
        can_write=auth.can(Perm.CONFIG_WRITE, t.tenant), can_reveal=auth.can(Perm.SECRET_READ, t.tenant),
        ref_form=ItemRefForm(formdata=None),
    ), status


@bp.get(PAGE)
@auth.require(Perm.CONFIG_READ)
def draft(tenant, component, environment):
    return _draft_page(target(tenant, component, environment))


def _item_args(form) -> dict:
    return {"namespace": form.namespace.data, "layer": form.layer.data,
            "label": (form.label.data or "").strip() or None}


@bp.post(PAGE + "/items")
@auth.require(Perm.CONFIG_WRITE)
def put_item(tenant, component, environment):
    t = target(tenant, component, environment)
    form = ItemForm()
    editing = request.args.get("edit") == "1"
    if form.validate_on_submit():
        with refusals(form, "value") as outcome:
            services.put_item(tenant, actor(), t.component, t.environment, form.key.data,
                              value=form.value.data, type=form.type.data, secret=form.secret.data,
                              description=form.description.data or "",
                              **_item_args(form))
        if outcome.ok:
            flash(_("Saved %(key)s in the draft.", key=form.key.data), "success")
            return redirect(t.url("scm.draft") + f"#ns-{form.namespace.data}")
    if editing:
        return render_template("scm/item_edit.html", t=t, tab="draft", form=form, secret_kept=False), 422
    return _draft_page(t, item_form=form, status=422)


def _find(resolved, namespace: str, layer: str, label: str | None, key: str) -> dict | None:
    """What the draft knows of one item: its value (None for a secret), type, secret, description."""
    if layer == "label":
        for entry in resolved.overrides:
            if (entry["namespace"], entry["selector"], entry["key"]) == (namespace, label or "", key):
                value = None if entry["secret"] else json.loads(entry["value"])
                return {"value": value, "type": entry["type"],
                        "secret": entry["secret"], "description": entry.get("description") or ""}
    winner = resolved.namespaces.get(namespace, {}).get(key)
    if winner is not None and winner.layer == layer and (layer != "label"
                                                         or winner.selector == (label or "")):
        return {"value": winner.value, "type": winner.type, "secret": winner.secret,
                "description": winner.description}
    values = resolved.layers.get(namespace, {}).get(layer, {})
    if layer != "label" and key in values and winner is not None:
        return {"value": values[key], "type": winner.type, "secret": values[key] is None and winner.secret,
                "description": ""}
    return None


@bp.get(PAGE + "/items/edit")
@auth.require(Perm.CONFIG_WRITE)
def edit_item(tenant, component, environment):
    t = target(tenant, component, environment)
    if not request.args.get("key"):  # no item named: the form of a new one
        return render_template("scm/item_edit.html", t=t, tab="draft", form=ItemForm(formdata=None),
                               secret_kept=False)
    ref = ItemRefForm(request.args, meta={"csrf": False})
    if not ref.validate():
        abort(404)
    label = (ref.label.data or "").strip() or None
    found = _find(services.draft(t.tenant, t.component, t.environment), ref.namespace.data, ref.layer.data,
                  label, ref.key.data)
    if found is None:
        abort(404)
    form = ItemForm(formdata=None, data={
        "key": ref.key.data, "namespace": ref.namespace.data, "layer": ref.layer.data, "label": label or "",
        "type": found["type"], "secret": found["secret"], "description": found["description"],
        "value": "" if found["secret"] else shown(found["value"], found["type"], pretty=True),
    })
    return render_template("scm/item_edit.html", t=t, tab="draft", form=form, secret_kept=found["secret"])


@bp.post(PAGE + "/items/delete")
@auth.require(Perm.CONFIG_WRITE)
def delete_item(tenant, component, environment):
    t = target(tenant, component, environment)
    form = ItemRefForm()
    if not form.validate_on_submit():
        flash(_("Refused: %(why)s", why=_("the item to delete is not named.")), "error")
        return redirect(t.url("scm.draft"))
    with refusals() as outcome:
        services.delete_item(tenant, actor(), t.component, t.environment, form.key.data, **_item_args(form))
    if outcome.ok:
        flash(_("Deleted %(key)s from the draft.", key=form.key.data), "success")
    return redirect(t.url("scm.draft"))


@bp.post(PAGE + "/items/reveal")
@auth.require(Perm.SECRET_READ)
def reveal(tenant, component, environment):
    """A secret's value, for who may read secrets; each reveal is written to the audit log."""
    t = target(tenant, component, environment)
    form = ItemRefForm()
    if not form.validate_on_submit():
        abort(400)
    args = _item_args(form)
    value = services.reveal_secret(tenant, actor(), t.component, t.environment, form.key.data, **args)
    if request.headers.get("HX-Request"):
        return render_template("scm/_secret.html", value=value)
    where = (form.namespace.data, form.layer.data, args["label"] or "", form.key.data)
    return _draft_page(t, revealed={where: value})
