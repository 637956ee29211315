"""TX's audit actions as sentences (``taiji.platform.audit_sentences``), with links to their
targets: the operator's decisions on a transaction, the engine parking one for an operator, and
the retries and re-checks of notifications and messages; "alice retried the transaction
order-17", not "alice did tx.transaction.retried on order-17"."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence

from .answers import last_error_words

# A delivery's state after the operator's action, in the words of its badge (tx/_notify_labels.html).
_STATES = {"pending": _l("Pending"), "delivered": _l("Delivered"), "given_up": _l("Given up"),
           "stopped": _l("Stopped"), "prepared": _l("Prepared"), "submitted": _l("Published"),
           "aborted": _l("Aborted")}


def _transaction(entry, tenant):
    if tenant is None:  # the platform's own (Administration > Transactions)
        return url_for("tx.platform_transaction", gid=entry.target)
    return url_for("tx.transaction", tenant=tenant.slug, gid=entry.target)


def _notification(entry, tenant):
    return url_for("tx.notification", tenant=tenant.slug, nid=entry.target) if tenant is not None else None


def _message(entry, tenant):
    return url_for("tx.message", tenant=tenant.slug, mid=entry.target) if tenant is not None else None


def _state(entry) -> dict:
    state = (entry.details or {}).get("state")
    return {"state": str(_STATES.get(state, state or "?"))}


def _reason(entry) -> dict:
    return {"reason": last_error_words((entry.details or {}).get("reason")) or _l("no answer recorded")}


SENTENCES = [
    Sentence("tx.transaction.parked",
             _l("The transaction %(target)s stopped retrying and waits for an operator: %(reason)s"), _reason,
             _transaction),
    Sentence("tx.transaction.retried", _l("%(actor)s retried the transaction %(target)s now"), None,
             _transaction),
    Sentence("tx.transaction.stopped", _l("%(actor)s stopped the transaction %(target)s"), None,
             _transaction),
    Sentence("tx.transaction.forwarded",
             _l("%(actor)s took the failing step of the transaction %(target)s as done and moved it forward"),
             None, _transaction),
    Sentence("tx.transaction.compensating", _l("%(actor)s turned the transaction %(target)s back"), None,
             _transaction),
    Sentence("tx.transaction.step_skipped",
             _l("%(actor)s skipped the step %(step)s of the transaction %(target)s"), None, _transaction),
    Sentence("tx.notification.retried", _l("%(actor)s retried the notification %(target)s now (%(state)s)"),
             _state, _notification),
    Sentence("tx.notification.stopped", _l("%(actor)s stopped the notification %(target)s"), None,
             _notification),
    Sentence("tx.message.rechecked", _l("%(actor)s re-checked the message %(target)s (%(state)s)"), _state,
             _message),
]
