"""SPM console pages, part five: importing a Backstage catalog-info.yaml, uploaded or pasted.
A dry run comes first and says in words what would be created, changed, left as it is and
refused; the import is applied only on a second, explicit step, with the very text that was
checked. Shares the blueprint of ``views``."""

from __future__ import annotations

from flask import flash, render_template, request
from flask_babel import gettext as _

from taiji.platform import auth
from taiji.platform.web.console import refusals

from . import services
from .forms import ImportForm
from .permissions import Perm
from .views import bp

IMPORT = "/t/<tenant>/catalog/import"
# The console takes smaller files than the API (16 MiB): a page has to carry the text twice.
MAX_CONSOLE_BYTES = 2 * 1024 * 1024


def _page(form, *, report=None, text=None, applied=False, status=200):
    return render_template("spm/import.html", form=form, report=report, text=text, applied=applied,
                           limit=MAX_CONSOLE_BYTES), status


def _text(form) -> str | None:
    """The YAML sent: the uploaded file, else the pasted text; None (with the error on the form)
    when it is too large, not UTF-8 or missing."""
    upload = form.file.data
    if upload is not None and getattr(upload, "filename", ""):
        raw = upload.stream.read(MAX_CONSOLE_BYTES + 1)
    else:
        raw = (form.text.data or "").encode()
    if len(raw) > MAX_CONSOLE_BYTES:
        form.text.errors.append(_("The file is larger than %(mib)s MiB; import it through the API.",
                                  mib=MAX_CONSOLE_BYTES // (1024 * 1024)))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        form.text.errors.append(_("The file is not UTF-8 text."))
        return None
    if not text.strip():
        form.text.errors.append(_("Choose a file or paste the YAML."))
        return None
    return text


@bp.get(IMPORT)
@auth.require(Perm.PRODUCT_WRITE)
def catalog_import(tenant):
    return _page(ImportForm())


@bp.post(IMPORT)
@auth.require(Perm.PRODUCT_WRITE)
def catalog_import_run(tenant):
    form = ImportForm()
    apply = request.form.get("step") == "apply"
    if not form.validate_on_submit():
        return _page(form, status=422)
    text = _text(form)
    if text is None:
        return _page(form, status=422)
    with refusals(form, "text") as outcome:
        report = services.import_catalog(tenant, text) if apply else services.preview_catalog(tenant, text)
    if not outcome.ok:
        return _page(form, status=422)
    if apply:
        flash(_("Catalog imported: %(created)s created, %(updated)s changed, %(unchanged)s unchanged, "
                "%(rejected)s refused.", created=len(report.created), updated=len(report.updated),
                unchanged=len(report.unchanged), rejected=len(report.rejected)),
              "warning" if report.rejected else "success")
        return _page(ImportForm(), report=report, applied=True)
    return _page(form, report=report, text=text)

