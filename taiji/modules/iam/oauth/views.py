"""Console pages of the OAuth client registry, for platform administrators."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from taiji.platform import auth, crypto
from taiji.platform.db import commit
from taiji.platform.web.console import FieldErrors, page_arg, refusals

from . import services
from .permissions import OAuthPerm
from .services import GRANT_TYPES

bp = Blueprint("iam_clients", __name__, template_folder="templates")


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def _form_data() -> dict:
    return {
        "name": request.form.get("name", ""),
        "redirect_uris": _lines("redirect_uris"),
        "post_logout_redirect_uris": _lines("post_logout_redirect_uris"),
        "grant_types": [g for g in GRANT_TYPES if request.form.get(f"grant_{g}") == "on"],
        "scope": request.form.get("scope", ""),
        "trusted": request.form.get("trusted") == "on",
        "can_introspect": request.form.get("can_introspect") == "on",
        "resource": request.form.get("resource", "").strip() or None,
    }


_SHOWN_ONCE = "iam_clients.new_secret"  # session key
_SEAL_PURPOSE = "iam.client-secret-once"


def _show_once(client_id: str, secret: str):
    """Post/redirect/get: the new secret rides to the next page sealed in the session and is
    dropped as it is shown, so reloading neither registers (or rotates) again nor shows it twice."""
    session[_SHOWN_ONCE] = {"client_id": client_id, "sealed": crypto.seal(secret, _SEAL_PURPOSE)}
    return redirect(url_for("iam_clients.client", client_id=client_id), 303)


def _take_secret(client_id: str) -> str | None:
    held = session.get(_SHOWN_ONCE)
    if not held or held.get("client_id") != client_id:
        return None
    session.pop(_SHOWN_ONCE, None)
    try:
        return crypto.unseal(held["sealed"], _SEAL_PURPOSE).decode()
    except Exception:  # sealed under a key rotated away meanwhile: nothing to show
        return None


def _fields() -> FieldErrors:
    """The client form's fields: a refusal shows under the one it names, anything else above the form."""
    return FieldErrors("name", "redirect_uris", "post_logout_redirect_uris", "scope", "grant_types",
                       "resource", "can_introspect")


@bp.get("/admin/clients")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def clients():
    page = services.list_clients(page=page_arg(), page_size=50)
    return render_template("iam_oauth/clients.html", page=page, values={}, errors={}, grant_types=GRANT_TYPES)


@bp.post("/admin/clients")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def create_client():
    data = _form_data()
    public = request.form.get("public") == "on"
    fields = _fields()
    with refusals(fields) as outcome:
        client, secret = services.create_client(
            data["name"], data["redirect_uris"], public=public, grant_types=data["grant_types"] or None,
            scope=data["scope"] or None, trusted=data["trusted"],
            post_logout_redirect_uris=data["post_logout_redirect_uris"],
            created_by_id=auth.current_principal().user_id,
            can_introspect=data["can_introspect"], resource=data["resource"])
    if not outcome.ok:
        page = services.list_clients(page=1, page_size=50)
        return render_template("iam_oauth/clients.html", page=page, values={**data, "public": public},
                               errors=fields.shown, form=fields, grant_types=GRANT_TYPES, show_form=True), 422
    commit()
    return _show_once(client.client_id, secret)


@bp.get("/admin/clients/<client_id>")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def client(client_id):
    row = services.get_client(client_id)
    return render_template("iam_oauth/client.html", client=row, secret=_take_secret(row.client_id), errors={},
                           grant_types=GRANT_TYPES)


@bp.post("/admin/clients/<client_id>")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def update_client(client_id):
    row = services.get_client(client_id)
    fields = _fields()
    with refusals(fields) as outcome:
        services.update_client(client_id, _form_data())
    if not outcome.ok:
        return render_template("iam_oauth/client.html", client=row, errors=fields.shown, form=fields,
                               grant_types=GRANT_TYPES), 422
    commit()
    flash(_("Client saved."), "success")
    return redirect(url_for("iam_clients.client", client_id=client_id))


@bp.post("/admin/clients/<client_id>/secret")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def rotate_secret(client_id):
    no_secret = lambda error: _("A public client has no secret to rotate.")  # noqa: E731
    with refusals(category="danger", message=no_secret) as outcome:
        row, secret = services.rotate_client_secret(client_id)
    if not outcome.ok:
        return redirect(url_for("iam_clients.client", client_id=client_id))
    commit()
    return _show_once(row.client_id, secret)


@bp.post("/admin/clients/<client_id>/enabled")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def set_enabled(client_id):
    enabled = request.form.get("enabled") == "true"
    services.update_client(client_id, {"enabled": enabled})
    commit()
    message = _("Client enabled.") if enabled else _("Client disabled: it can no longer sign anyone in.")
    flash(message, "success")
    return redirect(url_for("iam_clients.client", client_id=client_id))


@bp.post("/admin/clients/<client_id>/delete")
@auth.require(OAuthPerm.CLIENT_WRITE, tenant_scoped=False)
def delete_client(client_id):
    services.delete_client(client_id)
    commit()
    flash(_("Client deleted."), "success")
    return redirect(url_for("iam_clients.clients"))
