"""SPM console pages, part four: editing and deleting a product, comparing two of its versions
side by side, and downloading a released version's bill of materials. Shares the blueprint of
``views``."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from taiji.platform import auth
from taiji.platform.web.console import refusals

from . import services
from .forms import ProductDeleteForm, ProductEditForm, split_list
from .permissions import Perm
from .views import PRODUCT, bp


def _edit_page(item, form, delete_form, status=200):
    return render_template("spm/product_edit.html", product=item, form=form, delete_form=delete_form), status


@bp.route(PRODUCT + "/edit", methods=["GET", "POST"])
@auth.require(Perm.PRODUCT_WRITE)
def edit_product(tenant, product):
    item = services.get_product(tenant, product)
    form = ProductEditForm(obj=item)
    if not form.is_submitted():
        form.owners.data = ", ".join(item.owners or [])
        form.tags.data = ", ".join(item.tags or [])
    elif form.validate():
        with refusals(form, "name") as outcome:
            services.update_product(tenant, item, {
                "name": form.name.data,
                "description": form.description.data or "",
                "lifecycle": form.lifecycle.data,
                "owners": split_list(form.owners.data),
                "tags": split_list(form.tags.data),
            })
        if outcome.ok:
            flash(_("Product %(name)s saved.", name=item.name), "success")
            return redirect(url_for("spm.product", tenant=tenant, product=item.slug))
    return _edit_page(item, form, ProductDeleteForm(), 422 if form.errors else 200)


@bp.post(PRODUCT + "/delete")
@auth.require(Perm.PRODUCT_WRITE)
def delete_product(tenant, product):
    item = services.get_product(tenant, product)
    form = ProductDeleteForm()
    if form.validate_on_submit():
        if form.confirm.data.strip() != item.slug:
            form.confirm.errors.append(_("Type %(slug)s to confirm.", slug=item.slug))
        else:
            name = item.name
            with refusals(form, "confirm") as outcome:
                services.delete_product(tenant, item)
            if outcome.ok:
                flash(_("Product %(name)s deleted.", name=name), "success")
                return redirect(url_for("spm.products", tenant=tenant))
    edit = ProductEditForm(obj=item)
    edit.owners.data, edit.tags.data = ", ".join(item.owners or []), ", ".join(item.tags or [])
    return _edit_page(item, edit, form, 422)


@bp.get(PRODUCT + "/compare")
@auth.require(Perm.PRODUCT_READ)
def compare_versions(tenant, product):
    item = services.get_product(tenant, product)
    versions = services.list_versions(item, page=1, page_size=100).items
    names = [v.version for v in versions]
    old, new = request.args.get("from") or "", request.args.get("to") or ""
    if not old and not new and len(names) >= 2:
        old, new = names[1], names[0]  # newest first: the one before against the newest
    diff = None
    if old in names and new in names:
        diff = services.compare(services.get_version(item, old), services.get_version(item, new))
    elif old or new:
        flash(_("Choose two versions of this product."), "error")
    return render_template("spm/compare.html", product=item, diff=diff, old=old, new=new,
                           choices=[SelectChoice(n) for n in names], shown=shown)


def shown(value) -> str:
    """A snapshot value in words: lists joined with commas, an API as 'name type version'."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values() if v not in (None, ""))
    return str(value)


@bp.get(PRODUCT + "/versions/<version>/sbom")
@auth.require(Perm.PRODUCT_READ)
def download_sbom(tenant, product, version):
    item = services.get_product(tenant, product)
    row = services.get_version(item, version)
    with refusals() as outcome:
        document = services.sbom(tenant, item, row)
    if not outcome.ok:
        return redirect(url_for("spm.product", tenant=tenant, product=item.slug) + "#versions")
    # The slug and version are checked names (letters, digits, dots, dashes), safe in the header.
    filename = f"{item.slug}-{row.version}.cdx.json"
    return Response(document, mimetype="application/vnd.cyclonedx+json", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    })
