"""SPM console pages: the product list and a product's page (components, dependencies,
versions, violations and the dependency graph)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from taiji.platform import auth
from taiji.platform.web.console import page_arg, refusals
from taiji.platform.web.text import register_labels

from . import graph_svg, services
from .forms import (
    KIND_CHOICES,
    LIFECYCLE_CHOICES,
    SEVERITY_CHOICES,
    VERSION_STATUS_LABELS,
    ComponentForm,
    DependencyForm,
    ProductForm,
    VersionForm,
    parse_apis,
    split_list,
)
from .permissions import Perm

bp = Blueprint("spm", __name__, template_folder="templates")
bp.record_once(lambda state: (
    register_labels(state.app, "spm.lifecycle", dict(LIFECYCLE_CHOICES)),
    register_labels(state.app, "spm.kind", dict(KIND_CHOICES)),
    register_labels(state.app, "spm.severity", dict(SEVERITY_CHOICES)),
    register_labels(state.app, "spm.version_status", VERSION_STATUS_LABELS),
))

PRODUCT = "/t/<tenant>/products/<product>"


def layer_choices(layers: list[str]) -> list[SelectChoice]:
    return [SelectChoice("", _("No layer")), *[SelectChoice(layer) for layer in layers]]


def _filters() -> dict:
    return {key: (request.args.get(key) or None) for key in ("q", "tag", "owner", "lifecycle", "layer")}


def _list_page(tenant, form: ProductForm, status: int = 200):
    filters = _filters()
    if filters["lifecycle"] not in (None, *dict(LIFECYCLE_CHOICES)):
        filters["lifecycle"] = None
    page = services.list_products(tenant, **filters, page=page_arg())
    return render_template(
        "spm/products.html",
        page=page,
        form=form,
        filters=filters,
        layers=services.layers(tenant),
        lifecycles=LIFECYCLE_CHOICES,
    ), status


@bp.get("/t/<tenant>/products")
@auth.require(Perm.PRODUCT_READ)
def products(tenant):
    return _list_page(tenant, ProductForm())


@bp.post("/t/<tenant>/products")
@auth.require(Perm.PRODUCT_WRITE)
def create_product(tenant):
    form = ProductForm()
    if form.validate_on_submit():
        with refusals(form, "slug") as outcome:
            product = services.create_product(
                tenant,
                {
                    "slug": form.slug.data,
                    "name": form.name.data,
                    "description": form.description.data or "",
                    "lifecycle": form.lifecycle.data,
                    "owners": split_list(form.owners.data),
                    "tags": split_list(form.tags.data),
                },
            )
        if outcome.ok:
            flash(_("Product %(name)s created.", name=product.name), "success")
            return redirect(url_for("spm.product", tenant=tenant, product=product.slug))
    return _list_page(tenant, form, 422)


def _product_page(tenant, product, *, component_form=None, dependency_form=None, version_form=None,
                  status=200, dependency_warning=None):
    layers = services.layers(tenant)
    components = services.list_components(tenant, product, page=1, page_size=100)
    component_form = component_form or ComponentForm()
    component_form.layer.choices = layer_choices(layers)
    dependency_form = dependency_form or DependencyForm()
    dependency_form.source.choices = [SelectChoice(c.name) for c in components.items]
    focus = request.args.get("focus") or None
    focus_component = services.find_component(tenant, product, focus) if focus else None
    graph = services.product_graph(tenant, product, focus_component)
    return render_template(
        "spm/product.html",
        product=product,
        components=components,
        layers=layers,
        dependencies=services.product_dependencies(product),
        versions=services.list_versions(product, page=1, page_size=50).items,
        violations=graph["violations"],
        graph=graph,
        svg=graph_svg.render(graph, link=lambda node: url_for(
            "spm.component", tenant=tenant.slug, product=node["product"], component=node["name"]),
            no_layer=_("no layer")),
        colour_of=graph_svg.colour_of,
        focus=focus_component,
        kinds=dict(KIND_CHOICES),
        component_form=component_form,
        dependency_form=dependency_form,
        version_form=version_form or VersionForm(),
        dependency_warning=dependency_warning,
    ), status


@bp.get(PRODUCT)
@auth.require(Perm.PRODUCT_READ)
def product(tenant, product):
    return _product_page(tenant, services.get_product(tenant, product))


@bp.post(PRODUCT + "/components")
@auth.require(Perm.PRODUCT_WRITE)
def add_component(tenant, product):
    item = services.get_product(tenant, product)
    form = ComponentForm()
    form.layer.choices = layer_choices(services.layers(tenant))
    if form.validate_on_submit():
        with refusals(form, "name") as outcome:
            services.create_component(
                tenant,
                item,
                {
                    "name": form.name.data,
                    "kind": form.kind.data,
                    "layer": form.layer.data or None,
                    "owner": form.owner.data or "",
                    "version": form.version.data,
                    "repository_url": form.repository_url.data or None,
                    "owns_database": form.owns_database.data or None,
                    "provides": parse_apis(form.provides.data),
                    "consumes": parse_apis(form.consumes.data),
                },
            )
        if outcome.ok:
            flash(_("Component %(name)s added.", name=form.name.data), "success")
            return redirect(url_for("spm.product", tenant=tenant, product=product) + "#components")
    return _product_page(tenant, item, component_form=form, status=422)


@bp.post(PRODUCT + "/dependencies")
@auth.require(Perm.PRODUCT_WRITE)
def add_dependency(tenant, product):
    item = services.get_product(tenant, product)
    form = DependencyForm()
    components = services.list_components(tenant, item, page_size=100).items
    form.source.choices = [SelectChoice(c.name) for c in components]
    if form.validate_on_submit():
        with refusals(form, "target") as outcome:
            source = services.get_component(tenant, item, form.source.data)
            services.add_dependency(
                tenant,
                source,
                {
                    "component": form.target.data or None,
                    "name": form.name.data or None,
                    "version_range": form.version_range.data,
                    "license": form.license.data or None,
                    "purl": form.purl.data or None,
                },
            )
        if outcome.ok:
            flash(_("Dependency added."), "success")
            return redirect(url_for("spm.product", tenant=tenant, product=product) + "#dependencies")
    # Refused: the form comes back with its errors, and with the rules it would break, as the
    # at-once check showed them before it was sent.
    source = services.find_component(tenant, item, (form.source.data or "").lower())
    target = form.target.data or ""
    found = services.dependency_violations(tenant, source, target) if source and target else []
    return _product_page(tenant, item, dependency_form=form, status=422, dependency_warning=found)


@bp.post(PRODUCT + "/versions")
@auth.require(Perm.PRODUCT_WRITE)
def cut_version(tenant, product):
    item = services.get_product(tenant, product)
    form = VersionForm()
    if form.validate_on_submit():
        with refusals(form, "version") as outcome:
            services.create_version(tenant, item, form.version.data, form.notes.data or "")
        if outcome.ok:
            flash(_("Version %(v)s cut as a draft.", v=form.version.data), "success")
            return redirect(url_for("spm.product", tenant=tenant, product=product) + "#versions")
    return _product_page(tenant, item, version_form=form, status=422)


@bp.post(PRODUCT + "/versions/<version>/<action>")
@auth.require(Perm.PRODUCT_WRITE)
def version_action(tenant, product, version, action):
    item = services.get_product(tenant, product)
    row = services.get_version(item, version)
    with refusals() as outcome:
        if action == "release":
            services.release(tenant, item, row)
        elif action in ("deprecate", "retire"):
            services.set_status(tenant, item, row, {"deprecate": "deprecated", "retire": "retired"}[action])
        else:
            flash(_("Unknown action."), "error")
            return redirect(url_for("spm.product", tenant=tenant, product=product) + "#versions")
    if outcome.ok:
        flash(_("Version %(v)s is now %(status)s.", v=row.version, status=row.status), "success")
    return redirect(url_for("spm.product", tenant=tenant, product=product) + "#versions")
