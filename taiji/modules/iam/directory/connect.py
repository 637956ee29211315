"""Talking to a tenant's directory: where Taiji may connect, how, and what a failure means.

The directory's URL is chosen by a tenant administrator, so Taiji connecting to it is Taiji
connecting where a tenant says. The platform's address policy (``taiji.platform.egress``)
applies, with ``TAIJI_IAM_LDAP_ALLOWED_HOSTS`` as the operator's allow-list: when the settings
are saved (a field error) and right before every connection, which then goes to the very
address that was checked, so a DNS answer that changes in between cannot move it. For ldaps://
the certificate is still checked against the URL's host name (sent as SNI too), not against
the pinned address. Referrals are never followed: a directory cannot send Taiji elsewhere.

Whatever goes wrong — a refused connection, a TLS failure, a server that is not LDAP and
answers bytes ldap3 cannot decode — becomes a ``DirectoryError`` with a sentence for people.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from flask_babel import gettext as _

from taiji.platform import egress

if TYPE_CHECKING:  # imported where used: importing it costs every process's start-up
    import ldap3

log = logging.getLogger(__name__)

SETTING = "TAIJI_IAM_LDAP_ALLOWED_HOSTS"
REFUSED_AS = "an address upstream directories may not be at"
TIMEOUT = 5  # seconds; a directory that hangs must not hang the sign-in page for long
# C0 and C1 controls, DEL and the Unicode line and paragraph separators: none belongs in a DN,
# a filter or an attribute name, and CR/LF are how bytes meant for LDAP become commands to
# another protocol.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class DirectoryError(Exception):
    """Talking to the directory failed; ``str()`` is a sentence for the person who asked."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def allowed_entries() -> tuple[str, ...]:
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("IAM_LDAP_ALLOWED_HOSTS") or ())


def has_control_characters(value) -> bool:
    return isinstance(value, str) and CONTROL.search(value) is not None


def parse_url(url: str) -> Target:
    """The scheme, host and port of an ldap:// or ldaps:// URL; ValueError says what is wrong."""
    if has_control_characters(url):
        raise ValueError("The URL must not contain control characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("The URL's host or port is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        raise ValueError("Use an ldap:// or ldaps:// URL.")
    if not parts.hostname:
        raise ValueError("The URL names no host.")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("Write only ldap[s]://host[:port]; DNs have fields of their own.")
    return Target(scheme, parts.hostname, port or (636 if scheme == "ldaps" else 389))


def refusal(url: str, *, unresolved_ok: bool = False) -> str | None:
    """Why Taiji may not connect to the directory at ``url`` (bad URL or egress policy), or None."""
    try:
        target = parse_url(url)
    except ValueError as exc:
        return str(exc)
    found = egress.host_refusal(target.host, allowed_entries(), unresolved_ok=unresolved_ok)
    return found.explain(REFUSED_AS, SETTING) if found else None


def server(url: str, ca_certificate: str = "") -> tuple[ldap3.Server, Target]:
    """An ldap3 server pinned to an address of ``url`` that the egress policy allows right now."""
    import ldap3

    try:
        target = parse_url(url)
    except ValueError as exc:
        raise DirectoryError(str(exc)) from None
    addresses = egress.resolve(target.host)
    found = egress.host_refusal(target.host, allowed_entries(), addresses=addresses)
    if found is not None:
        raise DirectoryError(found.explain(REFUSED_AS, SETTING))
    tls = None
    if target.scheme == "ldaps":
        named = egress.literal(target.host) is None
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, valid_names=[target.host],
                        sni=target.host if named else None, ca_certs_data=ca_certificate or None)
    pinned = ldap3.Server(str(addresses[0]), port=target.port, use_ssl=target.scheme == "ldaps", tls=tls,
                          connect_timeout=TIMEOUT, get_info=ldap3.NONE)
    return pinned, target


def connection(pinned: ldap3.Server, user: str | None, password: str | None) -> ldap3.Connection:
    import ldap3

    return ldap3.Connection(pinned, user or None, password or None, receive_timeout=TIMEOUT, read_only=True,
                            auto_referrals=False, raise_exceptions=False)


def explain(exc: BaseException, url: str) -> str:
    """A sentence for people about a failure talking to the directory at ``url``."""
    from ldap3.core import exceptions as ldap_errors

    if isinstance(exc, DirectoryError):
        return str(exc)
    try:
        target = parse_url(url)
        where, host = target.where, target.host
    except ValueError:
        where = host = url
    text = _flatten(exc)
    lowered = text.lower()
    if "refused" in lowered and isinstance(exc, ldap_errors.LDAPSocketOpenError):
        return _("Nothing answers at %(where)s (the connection was refused).", where=where)
    if "timed out" in lowered or isinstance(exc, socket.timeout):
        return _("%(where)s did not answer within %(seconds)s seconds; is it an LDAP server?",
                 where=where, seconds=TIMEOUT)
    if "doesnt match" in lowered or "doesn't match" in lowered:
        return _("The certificate of %(where)s is not made out to %(host)s.", where=where, host=host)
    if "certificate_verify_failed" in lowered:
        reason = text.rpartition("failed:")[2].strip()
        return _("The certificate of %(where)s is not signed by a CA Taiji trusts; paste the directory's CA "
                 "under CA certificates (%(reason)s).", where=where, reason=reason)
    if "ssl" in lowered or "tls" in lowered:
        return _("The TLS connection to %(where)s failed: %(reason)s.", where=where, reason=text)
    if isinstance(exc, ldap_errors.LDAPSocketOpenError):
        return _("Cannot connect to %(where)s: %(reason)s.", where=where, reason=text)
    if isinstance(exc, ldap_errors.LDAPSessionTerminatedByServerError | ldap_errors.LDAPSocketReceiveError):
        return _("%(where)s closed the connection: it is not an LDAP server, or it refused Taiji.",
                 where=where)
    log.info("directory at %s: %s: %s", where, exc.__class__.__name__, text)
    return _("%(where)s answered something that is not LDAP (%(kind)s).", where=where,
             kind=exc.__class__.__name__)


def _flatten(exc: BaseException) -> str:
    """ldap3 wraps socket errors in tuples and lists; keep the words, drop the brackets."""
    text = str(exc)
    text = re.sub(r"[\[\]()'\"]", "", text).strip(" ,.")
    return re.sub(r"\s+", " ", text)[:300]
