"""TX console pages: the transaction list, a transaction's timeline with live refresh, and the
operator buttons; best-effort notifications with their attempts, two-phase messages with their
check-backs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from taiji.platform import auth
from taiji.platform.tx import messages, notify
from taiji.platform.tx.models import ACTIVE_STATES, FINAL_STATES, KINDS, SAGA, STATES, TCC
from taiji.platform.tx.plans import BACKWARD_PHASE
from taiji.platform.web import console
from taiji.platform.web.text import register_labels

from . import services
from .answers import describe_call, last_error_words
from .permissions import Perm
from .schemas import OPERATIONS

bp = Blueprint("tx", __name__, template_folder="templates")
# The phases of the engine's plans (taiji.platform.tx.plans), in the reader's words.
PHASE_LABELS = {"action": _l("Action"), "compensate": _l("Compensate"), "try": _l("Try"),
                "confirm": _l("Confirm"), "cancel": _l("Cancel")}
bp.record_once(lambda state: register_labels(state.app, "tx.phase", PHASE_LABELS))

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


def _urls(tenant):
    """URLs of the pages of one scope: a tenant's transactions, or the platform's own (None)."""
    def tx_url(name: str, **values) -> str:
        if tenant is None:
            return url_for(f"tx.platform_{name}", **values)
        return url_for(f"tx.{name}", tenant=tenant, **values)
    return tx_url


def _list(tenant):
    filters = _filters()
    number = console.page_arg()
    page = services.list_transactions(tenant, **filters, page=number)
    if tenant is None:
        scope = {"scope_name": _("Platform"), "pager_endpoint": "tx.platform_transactions",
                 "pager_args": dict(filters),
                 "empty_text": _("The platform's own multi-step operations, such as creating a tenant, "
                                 "appear here with every step they run.")}
    else:
        scope = {"scope_name": tenant.name, "pager_endpoint": "tx.transactions",
                 "pager_args": {"tenant": tenant, **filters},
                 "empty_text": _("Sagas and TCC transactions your services submit through the API appear "
                                 "here, with every call they make.")}
    return render_template("tx/transactions.html", page=page, filters=filters, states=STATES, kinds=KINDS,
                           ages=AGES, tx_url=_urls(tenant), last_error_words=last_error_words, **scope)


@bp.get("/t/<tenant>/transactions")
@auth.require(Perm.TRANSACTION_READ)
def transactions(tenant):
    return _list(tenant)


@bp.get("/admin/transactions")
@auth.require(Perm.PLATFORM_READ)
def platform_transactions():
    return _list(None)


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
    return _item(tenant, gid, auth.can(Perm.TRANSACTION_OPERATE, tenant))


@bp.get("/admin/transactions/<gid>")
@auth.require(Perm.PLATFORM_READ)
def platform_transaction(gid):
    return _item(None, gid, auth.can(Perm.PLATFORM_OPERATE, None))


def step_calls(calls) -> dict[str, dict]:
    """What the timeline says of each step: every call made for it (``count``), per operation in the
    order first called (``ops``: [(op, calls)]), its latest call (``last``; its result is None
    while it is in flight) and the operations a call of which succeeded (``ok``). The steps table
    shows these, so that it agrees with the timeline: the engine's own counter (``Branch.attempts``)
    counts only the calls of the current operation and starts again at 0 once a step settles, when
    the phase turns, and after "Retry now"."""
    found: dict[str, dict] = {}
    for call in calls:
        step = found.setdefault(call.branch_name, {"count": 0, "ops": {}, "last": None, "ok": set()})
        step["count"] += 1
        step["ops"][call.op] = step["ops"].get(call.op, 0) + 1
        step["last"] = call
        if call.result == "OK":
            step["ok"].add(call.op)
    for step in found.values():
        step["ops"] = list(step["ops"].items())
    return found


def _item(tenant, gid, can_operate: bool):
    tx = services.get_transaction(tenant, gid)
    calls = services.timeline(tx)
    context = {"tx": tx, "calls": calls, "step_calls": step_calls(calls), "refusals": refusals(tx),
               "live": tx.state in ACTIVE_STATES, "can_operate": can_operate, "tx_url": _urls(tenant),
               "answer_of": describe_call, "last_error_words": last_error_words}
    if request.headers.get("HX-Request"):
        # htmx polling: only the part that changes, which stops polling once the transaction waits.
        return render_template("tx/_live.html", **context)
    return render_template("tx/transaction.html", **context)


@bp.post(ITEM + "/<operation>")
@auth.require(Perm.TRANSACTION_OPERATE)
def operate(tenant, gid, operation):
    return _operate(tenant, gid, operation)


@bp.post("/admin/transactions/<gid>/<operation>")
@auth.require(Perm.PLATFORM_OPERATE)
def platform_operate(gid, operation):
    return _operate(None, gid, operation)


def _operate(tenant, gid, operation):
    if operation not in OPERATIONS:
        abort(404)
    services.get_transaction(tenant, gid)  # another tenant's (or a tenant's, here) transaction is not found
    with console.refusals(message=console.refused) as outcome:
        services.operate(tenant, gid, operation, principal=auth.current_principal(),
                         step=request.form.get("step") or None)
    if outcome.ok:
        flash({"retry": _("Retrying now."), "stop": _("The transaction is stopped."),
               "forward": _("Moving forward past the failing step."),
               "compensate": _("Compensating what was done."),
               "skip": _("The step is skipped.")}[operation], "success")
    return redirect(_urls(tenant)("transaction", gid=gid))


# -- best-effort notifications and two-phase messages -----------------------------------------

NOTIFICATION = "/t/<tenant>/notifications/<nid>"
MESSAGE = "/t/<tenant>/messages/<mid>"


def _state_filter(states: tuple[str, ...]) -> str | None:
    state = request.args.get("state") or None
    return state if state in states else None


@bp.get("/t/<tenant>/notifications")
@auth.require(Perm.TRANSACTION_READ)
def notifications(tenant):
    state = _state_filter(notify.STATES)
    page = services.list_notifications(tenant, state=state,
                                       page=console.page_arg())
    return render_template("tx/notifications.html", page=page, state=state, states=notify.STATES)


@bp.get(NOTIFICATION)
@auth.require(Perm.TRANSACTION_READ)
def notification(tenant, nid):
    row = services.notification_detail(tenant, nid)
    return render_template("tx/notification.html", n=row, answer_of=describe_call,
                           can_operate=auth.can(Perm.TRANSACTION_OPERATE, tenant))


@bp.post(NOTIFICATION + "/retry")
@auth.require(Perm.TRANSACTION_OPERATE)
def notification_retry(tenant, nid):
    return _notification_action(tenant, nid, "retry")


@bp.post(NOTIFICATION + "/stop")
@auth.require(Perm.TRANSACTION_OPERATE)
def notification_stop(tenant, nid):
    return _notification_action(tenant, nid, "stop")


def _notification_action(tenant, nid, action):
    services.get_notification(tenant, nid)  # another tenant's notification is not found
    with console.refusals(message=console.refused) as outcome:
        services.act_on_notification(tenant, nid, action, principal=auth.current_principal())
    if outcome.ok:
        if action == "retry":
            flash(_("The next attempt is made now."), "success")
        else:
            flash(_("No more attempts will be made."), "success")
    return redirect(url_for("tx.notification", tenant=tenant, nid=nid))


@bp.get("/t/<tenant>/messages")
@auth.require(Perm.TRANSACTION_READ)
def messages_list(tenant):
    state = _state_filter(messages.STATES)
    page = services.list_messages(tenant, state=state,
                                  page=console.page_arg())
    return render_template("tx/messages.html", page=page, state=state, states=messages.STATES)


@bp.get(MESSAGE)
@auth.require(Perm.TRANSACTION_READ)
def message(tenant, mid):
    row = services.message_detail(tenant, mid)
    return render_template("tx/message.html", m=row, can_operate=auth.can(Perm.TRANSACTION_OPERATE, tenant))


@bp.post(MESSAGE + "/recheck")
@auth.require(Perm.TRANSACTION_OPERATE)
def message_recheck(tenant, mid):
    services.get_message(tenant, mid)
    with console.refusals(message=console.refused) as outcome:
        services.recheck_message(tenant, mid, principal=auth.current_principal())
    if outcome.ok:
        flash(_("The participant is asked again now."), "success")
    return redirect(url_for("tx.message", tenant=tenant, mid=mid))
