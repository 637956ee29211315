"""SCM console pages, part three: the History tab, Import/Export of a namespace and the component's
JSON Schema. Shares the blueprint of ``views``."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import page_arg, refusals

from . import services
from .forms import ExportForm, ImportForm, SchemaForm
from .permissions import Perm
from .views import PAGE, actor, bp, target

MAX_IMPORT_BYTES = 1024 * 1024
EXTENSIONS = {"yaml": "yaml", "json": "json", "properties": "properties", "env": "env"}


@bp.get(PAGE + "/history")
@auth.require(Perm.CONFIG_READ)
def history(tenant, component, environment):
    t = target(tenant, component, environment)
    page = services.history(t.tenant, t.component, t.environment, page=page_arg(), page_size=30)
    return render_template("scm/history.html", t=t, tab="history", page=page)


def _transfer_page(t, form=None, report=None, status=200):
    export = ExportForm(request.args if "format" in request.args else None)
    return render_template("scm/transfer.html", t=t, tab="transfer", form=form or ImportForm(formdata=None),
                           export=export, report=report,
                           can_write=auth.can(Perm.CONFIG_WRITE, t.tenant)), status


@bp.get(PAGE + "/transfer")
@auth.require(Perm.CONFIG_READ)
def transfer(tenant, component, environment):
    return _transfer_page(target(tenant, component, environment))


@bp.get(PAGE + "/export")
@auth.require(Perm.CONFIG_READ)
def export(tenant, component, environment):
    """A namespace of the environment layer as a file (secrets masked: they are not exported)."""
    t = target(tenant, component, environment)
    form = ExportForm(request.args)
    if not form.validate():
        return _transfer_page(t, status=422)
    with refusals(form, "namespace") as outcome:
        text = services.export_namespace(tenant, t.component, t.environment, form.namespace.data,
                                         form.format.data)
    if not outcome.ok:
        return _transfer_page(t, status=422)
    name = f"{t.component.name}-{t.environment}-{form.namespace.data}.{EXTENSIONS[form.format.data]}"
    return Response(text, mimetype="text/plain",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post(PAGE + "/import")
@auth.require(Perm.CONFIG_WRITE)
def import_namespace(tenant, component, environment):
    t = target(tenant, component, environment)
    form = ImportForm()
    report = None
    if form.validate_on_submit():
        upload = form.file.data
        raw = upload.read(MAX_IMPORT_BYTES + 1) if upload else (form.text.data or "").encode()
        if len(raw) > MAX_IMPORT_BYTES:
            form.text.errors = [_("The text is larger than 1 MiB.")]
        elif not raw.strip():
            form.text.errors = [_("Upload a file or paste the text to import.")]
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                form.file.errors = [_("The file is not UTF-8 text.")]
            else:
                with refusals(form, "text") as outcome:
                    report = services.import_namespace(tenant, actor(), t.component, t.environment,
                                                       form.namespace.data, form.format.data, text,
                                                       dry_run=form.dry_run.data)
                if outcome.ok and not form.dry_run.data:
                    flash(_("Imported into namespace %(namespace)s of the draft.",
                            namespace=form.namespace.data), "success")
                    return redirect(t.url("scm.draft") + f"#ns-{form.namespace.data}")
                if outcome.ok:
                    return _transfer_page(t, form, report)
    return _transfer_page(t, form, status=422)


def _schema_page(t, form=None, status=200):
    current = services.get_schema(t.tenant, t.component)
    if form is None:
        form = SchemaForm(formdata=None, data={"schema": json.dumps(current, indent=2, ensure_ascii=False)
                                               if current is not None else ""})
    return render_template("scm/schema.html", t=t, tab="schema", form=form, current=current,
                           can_admin=auth.can(Perm.ADMIN, t.tenant)), status


@bp.get(PAGE + "/schema")
@auth.require(Perm.CONFIG_READ)
def schema(tenant, component, environment):
    return _schema_page(target(tenant, component, environment))


@bp.post(PAGE + "/schema")
@auth.require(Perm.ADMIN)
def save_schema(tenant, component, environment):
    t = target(tenant, component, environment)
    form = SchemaForm()
    if form.validate_on_submit():
        text = (form.schema.data or "").strip()
        with refusals(form, "schema", names={"json_schema": "schema"}) as outcome:
            services.set_schema(tenant, actor(), t.component, json.loads(text) if text else None)
        if outcome.ok:
            flash(_("Schema saved.") if text else _("Schema removed."), "success")
            return redirect(t.url("scm.schema"))
    return _schema_page(t, form, 422)
