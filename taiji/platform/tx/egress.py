"""Where a tenant's transactions may send requests.

The engine makes HTTP calls on behalf of whoever submitted the transaction. For the platform's
own transactions (no tenant) that is Taiji itself and nothing is restricted. For a hosted
tenant it would otherwise be a way to make Taiji's workers request any address they can reach:
Redis or the database on loopback, the cloud's metadata service on 169.254.169.254. The policy:

- public addresses and the private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed,
  because that is where the microservices Taiji hosts live;
- loopback, link-local, unspecified, multicast and reserved addresses are refused, unless the
  host name or a CIDR range containing the address is listed in ``TAIJI_TX_ALLOWED_HOSTS``.

The URL is checked when the transaction is submitted (a clear 422) and again right before every
call, so a name that resolves somewhere else later is still caught; a name that does not resolve
at call time is left to the HTTP client, whose connection then fails (an UNKNOWN answer).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app, has_app_context

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def allowed_entries() -> tuple[str, ...]:
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("TX_ALLOWED_HOSTS") or ())


def _addresses(host: str) -> list[Address] | None:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def _forbidden(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_link_local or address.is_unspecified
            or address.is_multicast or address.is_reserved)


def _listed(host: str, address: Address, entries: tuple[str, ...]) -> bool:
    for entry in entries:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def refusal(url: str, *, entries: tuple[str, ...] | None = None, unresolved_ok: bool = False) -> str | None:
    """Why a tenant's transaction may not call ``url``, or None when it may."""
    entries = allowed_entries() if entries is None else entries
    host = urlsplit(url).hostname or ""
    addresses = _addresses(host)
    if addresses is None:
        return None if unresolved_ok else f"The host '{host}' does not resolve."
    for address in addresses:
        if _forbidden(address) and not _listed(host, address, entries):
            return (f"The host '{host}' resolves to {address}, an address tenants' transactions may not "
                    "call; an operator can allow it in TAIJI_TX_ALLOWED_HOSTS.")
    return None
