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

A view that words some refusals better for a person passes ``message`` (returning None leaves a
refusal to the default placement); ``field`` may depend on the refusal; ``passes`` lets refusals of
those types through to the kernel's error page (a ``NotFound`` is a 404 page, not a flash). What
names no field of the form shows at the top of the page (the layout shows ``form.form_errors``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field

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


# A view's own wording of a refusal (None: the default), and where a refusal naming no field goes.
Wording = Callable[[Exception], str | None]
Field = str | Callable[[Exception], str | None] | None


def apply_service_error(form, error: Exception, field: Field = None, message: Wording | None = None,
                        names: dict[str, str] | None = None) -> bool:
    """Show a refusal on ``form``; False (and nothing changed) when ``error`` is no refusal.

    Each field error goes under its field (``"owners.0"`` under ``owners``); what names no field of
    the form goes under ``field`` when given (a name, or a function of the refusal giving one), else
    with the form's own errors (``form.form_errors``, shown at the top of the page).
    ``message(error)``, when given, words the whole refusal for the console instead (one message,
    under ``field``); when it returns None the refusal is placed as without it. ``names`` maps a
    service's field name to the form's where they differ."""
    if not isinstance(error, REFUSALS):
        return False
    if callable(field):
        field = field(error)
    worded = message(error) if message is not None else None
    if worded is not None:
        _add(form, field, worded)
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


class FieldErrors:
    """The form of a page written without WTForms, for ``refusals``/``apply_service_error``: its
    field names; ``shown`` is field -> message for the template, ``form_errors`` the rest (pass the
    object as ``form`` to ``render_template`` and the layout shows them at the top of the page)."""

    def __init__(self, *names: str):
        self._fields = {name: _Field() for name in names}
        self.form_errors: list[str] = []

    @property
    def shown(self) -> dict[str, str]:
        return {name: " ".join(f.errors) for name, f in self._fields.items() if f.errors}


@dataclass
class _Field:
    errors: list = dataclass_field(default_factory=list)


@dataclass
class Outcome:
    """What ``refusals`` saw: ``error`` is the refusal (None when the call went through)."""

    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str | None:
        """The refusal in words, in the reader's language (a quota worded for the console)."""
        return None if self.error is None else error_message(self.error)

    @property
    def status(self) -> int:
        """The HTTP status a page showing the refusal answers with (a quota is a conflict: 409)."""
        return getattr(self.error, "status", 409) if self.error is not None else 200


@contextmanager
def refusals(form=None, field: Field = None, *, category: str = "error", message: Wording | None = None,
             names: dict[str, str] | None = None, passes: tuple[type[Exception], ...] = (),
             quiet: bool = False) -> Iterator[Outcome]:
    """Run a service call; a refusal is kept in the outcome and shown: on ``form`` (see
    ``apply_service_error``) or, without a form, flashed with ``category`` (``message(error)``, else the
    refusal in words: ``error_message``). ``quiet``: only kept, for a view that shows
    ``outcome.message`` its own way. Refusals of a type in ``passes``, and anything else, raise."""
    outcome = Outcome()
    try:
        yield outcome
    except REFUSALS as error:
        if passes and isinstance(error, passes):
            raise
        outcome.error = error
        if quiet:
            return
        if form is not None:
            apply_service_error(form, error, field=field, message=message, names=names)
        else:
            worded = message(error) if message is not None else None
            flash(worded if worded is not None else error_message(error), category)
