"""Where a tenant's transactions may send requests.

The engine makes HTTP calls on behalf of whoever submitted the transaction. For the platform's
own transactions (no tenant) that is Taiji itself and nothing is restricted. For a hosted
tenant the address policy of ``taiji.platform.egress`` applies (loopback, link-local and the
other reserved addresses are refused; public and private ranges are allowed), with
``TAIJI_TX_ALLOWED_HOSTS`` as the operator's allow-list.

The URL is checked when the transaction is submitted (a clear 422) and again right before every
call, so a name that resolves somewhere else later is still caught; a name that does not resolve
at call time is left to the HTTP client, whose connection then fails (an UNKNOWN answer).
"""

from __future__ import annotations

from flask import current_app, has_app_context

from taiji.platform import egress

SETTING = "TAIJI_TX_ALLOWED_HOSTS"
REFUSED_AS = "an address tenants' transactions may not call"


def allowed_entries() -> tuple[str, ...]:
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("TX_ALLOWED_HOSTS") or ())


def refusal(url: str, *, entries: tuple[str, ...] | None = None, unresolved_ok: bool = False) -> str | None:
    """Why a tenant's transaction may not call ``url``, or None when it may."""
    entries = allowed_entries() if entries is None else entries
    found = egress.refusal(url, entries, unresolved_ok=unresolved_ok)
    return found.explain(REFUSED_AS, SETTING) if found else None
