"""Text for people in the console's templates: translated strings are text, never markup.

Jinja's new-style gettext marks a translated string as safe markup when autoescaping is on, so a
message such as "Authorization: Bearer <token>" loses its ``<token>`` to the browser as an unknown
tag. Here the translation is escaped first; its ``%(name)s`` placeholders are then filled in by
Jinja, which escapes the values as well.
"""

from __future__ import annotations

from flask_babel import get_translations
from jinja2 import pass_context
from markupsafe import escape


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


def init_app(app) -> None:
    """After Flask-Babel's ``init_app``: replace its template gettext callables."""
    app.jinja_env.install_gettext_callables(_gettext, _ngettext, newstyle=True,
                                            pgettext=_pgettext, npgettext=_npgettext)
