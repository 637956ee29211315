"""Text for people in the console's templates: translated strings are text, never markup.

Jinja's new-style gettext marks a translated string as safe markup when autoescaping is on, so a
message such as "Authorization: Bearer <token>" loses its ``<token>`` to the browser as an unknown
tag. Here the translation is escaped first; its ``%(name)s`` placeholders are then filled in by
Jinja, which escapes the values as well.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app
from flask_babel import format_datetime, format_decimal, get_translations
from flask_babel import gettext as _
from jinja2 import pass_context
from markupsafe import Markup, escape

_LABELS = "taiji.labels"


def _as_text(context, translated: str):
    return escape(translated) if context.eval_ctx.autoescape else translated


@pass_context
def _gettext(context, string: str):
    return _as_text(context, get_translations().ugettext(string))


@pass_context
def _ngettext(context, singular: str, plural: str, num: int):
    return _as_text(context, get_translations().ungettext(singular, plural, num))


@pass_context
def _pgettext(context, msgctxt: str, string: str):
    return _as_text(context, get_translations().upgettext(msgctxt, string))


@pass_context
def _npgettext(context, msgctxt: str, singular: str, plural: str, num: int):
    return _as_text(context, get_translations().unpgettext(msgctxt, singular, plural, num))


def register_labels(app, kind: str, labels: Mapping[str, object]) -> None:
    """Words for the values of one kind ("tm.role", "spm.lifecycle"...), usually lazy_gettext
    strings, kept by the module that owns the values. Templates show them with
    ``{{ value|label("kind") }}``. A module registers its tables from its own web code, e.g.
    ``bp.record_once(lambda state: register_labels(state.app, "spm.lifecycle", LIFECYCLE_LABELS))``."""
    app.extensions.setdefault(_LABELS, {}).setdefault(kind, {}).update(labels)


def label(value, kind: str) -> str:
    """The reader's word for ``value``; a value without a registered word is shown as it is."""
    if value is None:
        return ""
    table = current_app.extensions.get(_LABELS, {}).get(kind, {})
    word = table.get(value)
    return str(word) if word is not None else str(value)


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
# One way to write a moment for every page and language: the time zone is always shown.
DATETIME_FORMAT = "yyyy-MM-dd HH:mm z"
DATE_FORMAT = "yyyy-MM-dd"
CLOCK_FORMAT = "HH:mm:ss.SSS z"


def bytesize(value) -> str:
    """A byte count for people: "1.5 MiB", "12 KiB", "980 B", digits in the reader's locale."""
    if value is None:
        return ""
    amount, unit = float(value), 0
    while abs(amount) >= 1024 and unit < len(_BYTE_UNITS) - 1:
        amount /= 1024
        unit += 1
    if unit == 0:
        return f"{format_decimal(int(value))} B"
    return f"{format_decimal(amount, format='#,##0.#')} {_BYTE_UNITS[unit]}"


def duration(value) -> str:
    """A number of seconds for people: "12.5 s", "2 min 5 s", "30 min", "1 h 30 min" ("30 分钟"):
    a job's run time, the longest a job may run, a notification's delays. Below a minute to the
    tenth of a second; from an hour on, seconds no longer matter."""
    if value is None:
        return ""
    seconds = round(float(value), 1)
    if seconds < 60:
        return _("%(n)s s", n=format_decimal(seconds, format="#,##0.#"))
    whole = int(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        parts = [_("%(n)s min", n=minutes)] + ([_("%(n)s s", n=rest)] if rest else [])
    else:
        hours, minutes = whole // 3600, whole % 3600 // 60
        parts = [_("%(n)s h", n=format_decimal(hours))] + ([_("%(n)s min", n=minutes)] if minutes else [])
    return " ".join(parts)


def amount(value, unit: str = "count") -> str:
    """A measured amount in its unit's words (a quota's ``Meter.unit``): bytes as ``bytesize``,
    seconds as ``duration``, anything else a number in the reader's locale."""
    if value is None:
        return ""
    if unit == "bytes":
        return bytesize(value)
    if unit == "seconds":
        return duration(value)
    return format_decimal(value)


def moment(value) -> str:
    """A date and time with its time zone ("2026-12-06 11:30 UTC"), in the console's zone."""
    return format_datetime(value, DATETIME_FORMAT) if value else ""


def moment_cell(value) -> Markup | str:
    """``moment`` for a table cell: its date and its time each kept whole, so that a phone's
    narrow column shows "2026-12-06" above "11:30 UTC" (two lines at most, one piece a line
    before) and a wide one keeps them on one line; the table no wider than its date's parts."""
    text = moment(value)
    if not text:
        return ""
    date_part, _space, time_part = text.partition(" ")
    return Markup('<span class="text-nowrap">{}</span> <span class="text-nowrap">{}</span>').format(
        date_part, time_part)


def day(value) -> str:
    """The date part of ``moment`` ("2026-12-06"), in the same zone: one format across the console."""
    return format_datetime(value, DATE_FORMAT) if value else ""


def clock(value) -> str:
    """The time of ``moment`` to the millisecond with its zone ("11:30:05.042 UTC"): a timeline's
    calls follow each other within a second, in the console's zone like every other date."""
    return format_datetime(value, CLOCK_FORMAT) if value else ""


def init_app(app) -> None:
    """After Flask-Babel's ``init_app``: replace its template gettext callables, add the filters."""
    app.jinja_env.install_gettext_callables(_gettext, _ngettext, newstyle=True,
                                            pgettext=_pgettext, npgettext=_npgettext)
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["bytes"] = bytesize
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["amount"] = amount
    app.jinja_env.filters["datetime"] = moment
    app.jinja_env.filters["datetime_cell"] = moment_cell
    app.jinja_env.filters["date"] = day
    app.jinja_env.filters["clock"] = clock
