"""Which addresses Taiji may connect to on a tenant's behalf.

Some features make Taiji's own processes open connections to an address a tenant chose: the
transaction engine calls participants (``platform/tx/egress.py``), mirrors fetch from a forge
(``modules/vcs``). Left open, that is a way to make Taiji request whatever its workers can
reach: Redis or the database on loopback, the cloud's metadata service on 169.254.169.254.
The policy, shared by every such feature:

- public addresses and the private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed,
  because that is where the services and forges a team runs live;
- loopback, link-local, unspecified, multicast and reserved addresses are refused, unless the
  host name, or a CIDR range containing the address, is in the feature's allow-list (a setting
  an operator controls).

Every address the name resolves to is checked: one forbidden address is enough to refuse.
The caller decides what a name that does not resolve means (``unresolved_ok``) and words the
refusal for its users (``Refusal.explain``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Refusal:
    """Why a connection to ``host`` is refused: it resolves to ``address``, or (None) to nothing."""

    host: str
    address: Address | None

    def explain(self, refused_as: str, setting: str) -> str:
        """A sentence for the user: ``refused_as`` names the kind of address ("an address
        mirrors may not fetch from"), ``setting`` the allow-list an operator can extend."""
        if self.address is None:
            return f"The host '{self.host}' does not resolve."
        return (f"The host '{self.host}' resolves to {self.address}, {refused_as}; "
                f"an operator can allow it in {setting}.")


def literal(host: str) -> Address | None:
    """``host`` as an address when it is one ("10.0.0.1", "[::1]"), else None (a name)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str) -> list[Address] | None:
    """The addresses ``host`` stands for (itself when it is an address); None when it does not
    resolve."""
    address = literal(host)
    if address is not None:
        return [address]
    if not host:
        return None
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    # A scoped IPv6 address ("fe80::1%eth0") comes with its zone; the zone does not change the range.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def forbidden(address: Address) -> bool:
    """Whether ``address`` is of a kind refused unless listed (loopback, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (address.is_loopback or address.is_link_local or address.is_unspecified
            or address.is_multicast or address.is_reserved)


def listed(host: str, address: Address, entries: tuple[str, ...]) -> bool:
    """Whether the allow-list names ``host`` or holds a range containing ``address``."""
    for entry in entries:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def host_refusal(host: str, entries: tuple[str, ...], *, unresolved_ok: bool = False,
                 addresses: list[Address] | None = None) -> Refusal | None:
    """Why a connection to ``host`` is refused, or None when it is allowed.

    ``addresses``: what ``host`` was already resolved to (so that a caller can connect to exactly
    the addresses that were checked); resolved here when not given.
    """
    if addresses is None:
        addresses = resolve(host)
    if not addresses:
        return None if unresolved_ok else Refusal(host, None)
    for address in addresses:
        if forbidden(address) and not listed(host, address, entries):
            return Refusal(host, address)
    return None


def refusal(url: str, entries: tuple[str, ...], *, unresolved_ok: bool = False) -> Refusal | None:
    """Why a connection to the host of ``url`` is refused, or None when it is allowed."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return host_refusal(host, entries, unresolved_ok=unresolved_ok)


def connect(addresses: Sequence, port: int, timeout: float | None = None, source=None) -> socket.socket:
    """A TCP connection to the first of ``addresses`` (those a check allowed) that answers, as
    ``socket.create_connection`` does for the addresses a name resolves to. HTTP clients pinned to
    checked addresses open their sockets here instead of resolving the host name again."""
    if not addresses:
        raise OSError("no address was allowed for this host")
    failure: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout, source)
        except OSError as exc:
            failure = exc
    raise failure
