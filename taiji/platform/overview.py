"""What a tenant's overview page shows besides its own facts: panels and items needing attention,
brought by the modules (``Module.overview``).

The overview belongs to a low module (TM) that may not call the higher ones (CI/CD, transactions);
instead each module registers providers here and the page asks them all:

- ``Panel``: a titled list of recent things (the last pipelines, releases…), rows of ``Row``;
- ``Attention``: things someone should look at now (a parked transaction, a failed pipeline on a
  default branch, a token about to expire), also rows of ``Row``, all shown in one list.

A provider is called with the tenant and the caller (a ``Principal``); one whose ``permission``
the caller lacks in the tenant is not called. A provider that fails is logged and left out: the
overview of a tenant never breaks because one module did.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from taiji.platform import auth

log = logging.getLogger(__name__)

TONES = ("green", "red", "yellow", "blue", "secondary")


@dataclass(frozen=True)
class Row:
    """One line of a panel or of the attention list; the texts are already in the reader's words."""

    title: str
    url: str | None = None
    status: str | None = None  # a word shown as a badge
    tone: str = "secondary"  # the badge's colour: one of TONES
    when: dt.datetime | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Panel:
    key: str  # "<module code>.<what>", unique
    title: Any  # a lazy string
    rows: Callable[[Any, Any], list[Row]]  # (tenant, principal) -> the rows, newest first
    empty: Any  # what the panel says when it has no rows (a lazy string)
    permission: str | None = None
    order: int = 100
    more: Callable[[Any], str] | None = None  # tenant -> the URL of the full list


@dataclass(frozen=True)
class Attention:
    key: str
    rows: Callable[[Any, Any], list[Row]]  # (tenant, principal) -> what needs attention now
    permission: str | None = None
    order: int = 100


@dataclass
class Shown:
    """A panel as the page shows it: its declaration and its rows."""

    panel: Panel
    rows: list[Row] = field(default_factory=list)


def _providers(kind: type) -> list:
    modules = current_app.extensions["taiji_modules"]
    found = [p for m in modules for p in (m.overview or []) if isinstance(p, kind)]
    return sorted(found, key=lambda p: (p.order, p.key))


def _allowed(provider, tenant) -> bool:
    return provider.permission is None or auth.can(provider.permission, tenant)


def _call(provider, tenant, principal) -> list[Row] | None:
    try:
        return list(provider.rows(tenant, principal))
    except Exception:  # one module's failure leaves its part out, not the whole page
        log.exception("overview provider %s failed", provider.key)
        return None


def panels(tenant, principal) -> list[Shown]:
    """The panels the caller may see, in order, with their rows."""
    shown = []
    for panel in _providers(Panel):
        if _allowed(panel, tenant):
            rows = _call(panel, tenant, principal)
            if rows is not None:
                shown.append(Shown(panel, rows))
    return shown


def attention(tenant, principal) -> list[Row]:
    """Everything needing the caller's attention in the tenant, in the providers' order."""
    rows: list[Row] = []
    for provider in _providers(Attention):
        if _allowed(provider, tenant):
            rows.extend(_call(provider, tenant, principal) or [])
    return rows
