"""Where a tenant's transactions may send requests.

The engine makes HTTP calls on behalf of whoever submitted the transaction. For the platform's
own transactions (no tenant) that is Taiji itself and nothing is restricted. For a hosted
tenant the address policy of ``taiji.platform.egress`` applies (loopback, link-local and the
other reserved addresses are refused; public and private ranges are allowed), with
``TAIJI_TX_ALLOWED_HOSTS`` as the operator's allow-list.

Every tenant URL — a participant's, a notification's, a message's check-back — is checked when it
is submitted (a clear 422) and again right before every call (``check``): the host is resolved
once, those addresses are judged, and the call connects to one of exactly those addresses
(``protocol.post(addresses=...)``) with the URL's own host in the Host header and TLS. So neither
a name that resolves elsewhere later (DNS rebinding) nor an allow-list an operator has narrowed
since goes unseen; the refusal is written where the call's answer would have been.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

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


@dataclass(frozen=True)
class Verdict:
    """Right before a call: ``refused`` (a sentence) or the ``addresses`` it may connect to.
    ``unresolved``: refused only because the name does not resolve now (worth trying later)."""

    refused: str | None
    addresses: tuple[egress.Address, ...] = ()
    unresolved: bool = False


def check(url: str, *, entries: tuple[str, ...] | None = None) -> Verdict:
    """Resolve the host of ``url`` once and judge exactly those addresses (see the module text)."""
    entries = allowed_entries() if entries is None else entries
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    addresses = egress.resolve(host)
    found = egress.host_refusal(host, entries, addresses=addresses)
    if found is not None:
        return Verdict(found.explain(REFUSED_AS, SETTING), unresolved=found.address is None)
    return Verdict(None, tuple(addresses))
