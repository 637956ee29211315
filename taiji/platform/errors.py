"""Errors services raise; the API answers them as problem+json, the console as messages.

A message is marked with ``msg`` (the catalogue's ``msg`` keyword) and named ``%(name)s``
placeholders, never an f-string, so that its msgid is stable and extractable::

    raise NotFound(msg("No repository '%(name)s'.", name=name))

The message is translated when it is read (``error.detail``, ``error.errors``, ``str(error)``),
in the locale of the request being answered: the console's user's language, the API's
``Accept-Language``; outside a request (CLI, tasks) it reads in English. ``error.english``
is the untranslated text, for code that decides by what an error says.
"""

from __future__ import annotations

from flask_babel import gettext


class Msg:
    """A translatable message with its parameters; reads as text in the current locale.

    Parameters are substituted once, after translation, so a ``%`` or ``%(x)s`` in a parameter
    (user data) stays literal; the result is plain text (no ``__html__``), escaped wherever a
    template shows it.
    """

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, params: dict):
        self.msgid, self.params = msgid, params

    def _render(self, template: str, english: bool = False) -> str:
        if not self.params:
            return template
        # A parameter may itself be a message (a word of the sentence): read in the same language.
        return template % {k: v.english if english and isinstance(v, Msg) else _text(v)
                           for k, v in self.params.items()}

    def __str__(self) -> str:
        return self._render(gettext(self.msgid))

    @property
    def english(self) -> str:
        return self._render(self.msgid, english=True)

    def __repr__(self) -> str:
        return f"msg({self.english!r})"

    def __eq__(self, other) -> bool:
        return str(self) == str(other) if isinstance(other, (str, Msg)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.english)

    def __reduce__(self):
        return (Msg, (self.msgid, self.params))


def msg(msgid: str, **params) -> Msg:
    """Mark an error message for translation; ``%(name)s`` placeholders take ``params``."""
    return Msg(msgid, params)


def _text(value) -> str:
    return str(value)


def _render(value, english: bool = False):
    """``value`` with every message in it read as text (nested dicts and lists of field errors)."""
    if isinstance(value, Msg):
        return value.english if english else str(value)
    if isinstance(value, dict):
        return {k: _render(v, english) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(v, english) for v in value]
    return value


class ServiceError(Exception):
    status = 400
    title = "Bad Request"

    def __init__(self, detail: str | Msg, errors: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    # Stored as given; read as text in the current request's locale.
    @property
    def detail(self) -> str:
        return str(self._detail)

    @detail.setter
    def detail(self, value) -> None:
        self._detail = value

    @property
    def errors(self) -> dict | None:
        return _render(self._errors)

    @errors.setter
    def errors(self, value) -> None:
        self._errors = value

    @property
    def english(self) -> str:
        """The message untranslated, whatever the request's language."""
        return _render(self._detail, english=True) if isinstance(self._detail, Msg) else str(self._detail)

    def __str__(self) -> str:
        return self.detail


class NotFound(ServiceError):
    status = 404
    title = "Not Found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Invalid(ServiceError):
    """Input that passed the schema but not the rules; ``errors`` maps field -> messages."""

    status = 422
    title = "Unprocessable Entity"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


def field_error(field: str, message: str | Msg) -> Invalid:
    return Invalid(message, errors={"json": {field: [message]}})
