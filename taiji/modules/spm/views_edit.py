"""SPM console pages, part two: editing and deleting components and dependencies, and the
tenant's architecture rules (layers and severities). Shares the blueprint of ``views``."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import refusals

from . import services
from .forms import ComponentEditForm, DependencyEditForm, RulesForm, parse_apis, split_list
from .permissions import Perm
from .views import PRODUCT, bp, layer_choices

COMPONENT = PRODUCT + "/components/<component>"
DEPENDENCY = COMPONENT + "/dependencies/<int:dependency_id>"
# Form field <- rule name; the cycle rule is always an error and has no field.
RULE_FIELDS = {"same_layer": "same-layer", "upward_dependency": "upward-dependency",
               "shared_database": "shared-database"}


def _product_url(tenant: str, product: str, anchor: str) -> str:
    return url_for("spm.product", tenant=tenant, product=product) + anchor


@bp.route(COMPONENT + "/edit", methods=["GET", "POST"])
@auth.require(Perm.PRODUCT_WRITE)
def edit_component(tenant, product, component):
    item = services.get_product(tenant, product)
    row = services.get_component(tenant, item, component)
    form = ComponentEditForm(obj=row)
    form.layer.choices = layer_choices(services.layers(tenant))
    if not form.is_submitted():
        form.layer.data = row.layer or ""
        for direction in ("provides", "consumes"):
            getattr(form, direction).data = ", ".join(
                f"{a.name}:{a.type}:{a.version}" for a in row.apis if a.direction == direction
            )
    elif form.validate():
        with refusals(form, "kind") as outcome:
            services.update_component(tenant, row, {
                "kind": form.kind.data,
                "layer": form.layer.data or None,
                "owner": form.owner.data or "",
                "version": form.version.data,
                "repository_url": form.repository_url.data or None,
                "owns_database": form.owns_database.data or None,
                "provides": parse_apis(form.provides.data),
                "consumes": parse_apis(form.consumes.data),
            })
        if outcome.ok:
            flash(_("Component %(name)s saved.", name=row.name), "success")
            return redirect(_product_url(tenant, product, "#components"))
    status = 422 if form.errors else 200
    return render_template("spm/component_edit.html", product=item, component=row, form=form), status


@bp.post(COMPONENT + "/delete")
@auth.require(Perm.PRODUCT_WRITE)
def delete_component(tenant, product, component):
    row = services.get_component(tenant, services.get_product(tenant, product), component)
    with refusals() as outcome:
        services.delete_component(tenant, row)
    if outcome.ok:
        flash(_("Component %(name)s deleted.", name=component), "success")
    return redirect(_product_url(tenant, product, "#components"))


def _dependency(tenant, product, component, dependency_id):
    item = services.get_product(tenant, product)
    return item, services.get_dependency(services.get_component(tenant, item, component), dependency_id)


@bp.route(DEPENDENCY + "/edit", methods=["GET", "POST"])
@auth.require(Perm.PRODUCT_WRITE)
def edit_dependency(tenant, product, component, dependency_id):
    item, dep = _dependency(tenant, product, component, dependency_id)
    form = DependencyEditForm(obj=dep)
    if dep.kind != "third-party":
        del form.license, form.purl
    if form.validate_on_submit():
        data = {"version_range": form.version_range.data}
        if dep.kind == "third-party":
            data.update(license=form.license.data or None, purl=form.purl.data or None)
        with refusals(form, "version_range") as outcome:
            services.update_dependency(tenant, dep, data)
        if outcome.ok:
            flash(_("Dependency saved."), "success")
            return redirect(_product_url(tenant, product, "#dependencies"))
    status = 422 if form.errors else 200
    return render_template("spm/dependency_edit.html", product=item, dependency=dep, form=form), status


@bp.post(DEPENDENCY + "/delete")
@auth.require(Perm.PRODUCT_WRITE)
def delete_dependency(tenant, product, component, dependency_id):
    dep = _dependency(tenant, product, component, dependency_id)[1]
    services.remove_dependency(tenant, dep)
    flash(_("Dependency removed."), "success")
    return redirect(_product_url(tenant, product, "#dependencies"))


RULES = "/t/<tenant>/catalog/rules"


def _rules_page(tenant, form: RulesForm, status: int = 200):
    return render_template("spm/rules.html", form=form, can_change=auth.can(Perm.RULES_WRITE, tenant)), status


@bp.get(RULES)
@auth.require(Perm.PRODUCT_READ)
def rules(tenant):
    form = RulesForm()
    form.layers.data = ", ".join(services.layers(tenant))
    severities = services.severities(tenant)
    for name, rule in RULE_FIELDS.items():
        getattr(form, name).data = severities[rule]
    return _rules_page(tenant, form)


@bp.post(RULES)
@auth.require(Perm.RULES_WRITE)
def save_rules(tenant):
    form = RulesForm()
    if form.validate_on_submit():
        with refusals(form, "layers") as outcome:
            services.update_settings(
                tenant,
                layers=split_list(form.layers.data.lower()),
                severities={rule: getattr(form, name).data for name, rule in RULE_FIELDS.items()},
            )
        if outcome.ok:
            flash(_("Architecture rules saved."), "success")
            return redirect(url_for("spm.rules", tenant=tenant))
    return _rules_page(tenant, form, 422)
