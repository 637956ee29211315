"""What every console page does with a request: read the page number, and show a service's refusal
to the person who asked (under the form's fields, or as a flashed message).

Services refuse with ``ServiceError`` (``NotFound``, ``Conflict``, ``Invalid`` with field errors,
``Forbidden``) or ``QuotaExceeded``; a view wraps the call in ``refusals(...)`` and carries on with
the page when ``outcome.ok`` is false::

    with refusals(form, field="name") as outcome:
        product = services.create_product(tenant, data)
    if outcome.ok:
        return redirect(...)
    return render_template(..., form=form), 422
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import flash, request
from flask_babel import gettext as _

from taiji.platform.errors import ServiceError
from taiji.platform.quotas import QuotaExceeded
from taiji.platform.web.messages import quota_problem

# Past the last page a list is empty anyway; the cap keeps the OFFSET a database can take.
MAX_PAGE = 100_000

REFUSALS = (ServiceError, QuotaExceeded)


def page_arg(name: str = "page") -> int:
    """The page a list shows, from ``?page=``: a positive whole number up to ``MAX_PAGE``; anything
    else (missing, not a number, zero or less) is page 1, and a larger one is the cap."""
    return max(1, min(request.args.get(name, 1, type=int) or 1, MAX_PAGE))


def error_message(error: Exception) -> str:
    """The refusal in words for a person: a quota in the console's language, else its detail."""
    if isinstance(error, QuotaExceeded):
        return quota_problem(error)
    return getattr(error, "detail", None) or str(error)


def refused(error: Exception) -> str:
    """"Refused: …", for a flashed refusal of an action (a button, not a form)."""
    fields = field_errors(error)
    why = " ".join(m for messages in fields.values() for m in messages) or error_message(error)
    return _("Refused: %(why)s", why=why)


def field_errors(error: Exception) -> dict[str, list[str]]:
    """field -> messages of a refusal, whatever part of the request (``json``, ``form``…) they name."""
    found: dict[str, list[str]] = {}
    for location in (getattr(error, "errors", None) or {}).values():
        if not isinstance(location, dict):
            continue
        for name, messages in location.items():
            found.setdefault(str(name), []).extend(
                messages if isinstance(messages, list | tuple) else [str(messages)])
    return found


def apply_service_error(form, error: Exception, field: str | None = None,
                        message: Callable[[Exception], str] | None = None,
                        names: dict[str, str] | None = None) -> bool:
    """Show a refusal on ``form``; False (and nothing changed) when ``error`` is no refusal.

    Each field error goes under its field (``"owners.0"`` under ``owners``); what names no field of
    the form goes under ``field`` when given, else with the form's own errors (``form.form_errors``).
    ``message(error)``, when given, words the whole refusal for the console instead (one message,
    under ``field``); ``names`` maps a service's field name to the form's where they differ."""
    if not isinstance(error, REFUSALS):
        return False
    if message is not None:
        _add(form, field, message(error))
        return True
    leftover = []
    for name, messages in field_errors(error).items():
        base = name.split(".")[0]
        target = form._fields.get((names or {}).get(base, base))
        if target is not None:
            target.errors = [*target.errors, *messages]
        else:
            leftover.append(f"{name}: {' '.join(messages)}")
    if leftover or not field_errors(error):
        _add(form, field, "; ".join(leftover) or error_message(error))
    return True


def _add(form, field: str | None, text: str) -> None:
    target = form._fields.get(field) if field else None
    if target is not None:
        target.errors = [*target.errors, text]
    else:
        form.form_errors = [*form.form_errors, text]


@dataclass
class Outcome:
    """What ``refusals`` saw: ``error`` is the refusal (None when the call went through)."""

    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@contextmanager
def refusals(form=None, field: str | None = None, *, category: str = "error",
             message: Callable[[Exception], str] | None = None,
             names: dict[str, str] | None = None) -> Iterator[Outcome]:
    """Run a service call; a refusal is kept in the outcome and shown: on ``form`` (see
    ``apply_service_error``) or, without a form, flashed with ``category``. Anything else raises."""
    outcome = Outcome()
    try:
        yield outcome
    except REFUSALS as error:
        outcome.error = error
        if form is not None:
            apply_service_error(form, error, field=field, message=message, names=names)
        else:
            flash(message(error) if message is not None else error_message(error), category)
