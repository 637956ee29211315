"""TX console pages: the transaction list, a transaction's timeline with live refresh, and the
operator buttons."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from taiji.platform import auth, tenancy
from taiji.platform.errors import ServiceError
from taiji.platform.tx.models import ACTIVE_STATES, FINAL_STATES, KINDS, SAGA, STATES, TCC
from taiji.platform.tx.plans import BACKWARD_PHASE

from . import services
from .permissions import Perm
from .schemas import OPERATIONS

bp = Blueprint("tx", __name__, template_folder="templates")

ITEM = "/t/<tenant>/transactions/<gid>"
AGES = (5, 60, 24 * 60)


def _filters() -> dict:
    filters = {key: (request.args.get(key) or None) for key in ("state", "kind", "business_key")}
    if filters["state"] not in (None, *STATES):
        filters["state"] = None
    if filters["kind"] not in (None, *KINDS):
        filters["kind"] = None
    age = request.args.get("older_than_minutes", type=int)
    filters["older_than_minutes"] = age if age in AGES else None
    return filters


@bp.get("/t/<tenant>/transactions")
@auth.require(Perm.TRANSACTION_READ)
def transactions(tenant):
    filters = _filters()
    page = services.list_transactions(tenancy.current(), **filters,
                                      page=max(1, request.args.get("page", 1, type=int) or 1))
    return render_template("tx/transactions.html", page=page, filters=filters, states=STATES, kinds=KINDS,
                           ages=AGES)


def refusals(tx) -> dict[str, str | None]:
    """Why each button is unavailable in the transaction's state (None: it may be pressed)."""
    if tx.state in FINAL_STATES:
        final = _("The transaction is finished; nothing can change it any more.")
        return dict.fromkeys(OPERATIONS, final)
    result: dict[str, str | None] = dict.fromkeys(OPERATIONS, None)
    if tx.kind == TCC:
        result["forward"] = _("Forward applies to sagas; a TCC transaction confirms only when every try "
                              "succeeded.")
    elif tx.phase == BACKWARD_PHASE[SAGA]:
        result["forward"] = _("The saga has turned back; forward is possible only until a compensation "
                              "is called.")
    if tx.phase == BACKWARD_PHASE[tx.kind]:
        result["compensate"] = _("The transaction is already turning back.")
    elif tx.kind == TCC and tx.phase == "confirm":
        result["compensate"] = _("Confirming has begun; every branch must now confirm.")
    return result


@bp.get(ITEM)
@auth.require(Perm.TRANSACTION_READ)
def transaction(tenant, gid):
    t = tenancy.current()
    tx = services.get_transaction(t, gid)
    context = {"tx": tx, "calls": services.timeline(tx), "refusals": refusals(tx),
               "live": tx.state in ACTIVE_STATES, "can_operate": auth.can(Perm.TRANSACTION_OPERATE, t)}
    if request.headers.get("HX-Request"):
        # htmx polling: only the part that changes, which stops polling once the transaction waits.
        return render_template("tx/_live.html", **context)
    return render_template("tx/transaction.html", **context)


@bp.post(ITEM + "/<operation>")
@auth.require(Perm.TRANSACTION_OPERATE)
def operate(tenant, gid, operation):
    if operation not in OPERATIONS:
        abort(404)
    t = tenancy.current()
    services.get_transaction(t, gid)  # another tenant's transaction is not found
    try:
        services.operate(t, gid, operation, principal=auth.current_principal(),
                         step=request.form.get("step") or None)
    except ServiceError as exc:
        flash(_("Refused: %(why)s", why=exc.detail), "error")
    else:
        flash({"retry": _("Retrying now."), "stop": _("The transaction is stopped."),
               "forward": _("Moving forward past the failing step."),
               "compensate": _("Compensating what was done."),
               "skip": _("The step is skipped.")}[operation], "success")
    return redirect(url_for("tx.transaction", tenant=tenant, gid=gid))
