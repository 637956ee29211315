"""Where a mirror may fetch from: the platform's address policy (``taiji.platform.egress``) with
``TAIJI_VCS_MIRROR_ALLOWED_HOSTS`` as its allow-list, the transports git may use, and the options
that keep git from going anywhere else than the address that was checked.

A mirror's URL is checked when it is registered or changed (a 422 naming the host and the
setting) and again right before every clone or fetch, so that a name that moves to a forbidden
address later is still refused. For http(s), git is then told to connect to exactly the
addresses that were checked (``http.curloptResolve``) and not to follow redirects, so neither a
DNS answer that changes between check and connection nor a redirect from the forge can send it
somewhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, has_app_context

from taiji.platform import egress

SETTING = "TAIJI_VCS_MIRROR_ALLOWED_HOSTS"
REFUSED_AS = "an address mirrors may not fetch from"
SCHEMES = ("http", "https", "ssh")
# GIT_ALLOW_PROTOCOL: git refuses every other transport (file, ext, git, fd ...), also for
# anything a fetch is pointed at indirectly.
ALLOWED_PROTOCOLS = ":".join(SCHEMES)
SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@(?P<host>[A-Za-z0-9.-]+):[A-Za-z0-9._~/-]+$")


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a URL: ``refused`` (a message) or the addresses it may use."""

    refused: str | None
    host: str = ""
    addresses: tuple[egress.Address, ...] = ()


def allowed_entries() -> tuple[str, ...]:
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("VCS_MIRROR_ALLOWED_HOSTS") or ())


def host_of(url: str) -> tuple[str, str]:
    """``(scheme, host)`` of a mirror URL; the ``user@host:path`` form is ssh. Empty when unusable."""
    scp = SCP_LIKE.match(url or "")
    if scp:
        return "ssh", scp["host"]
    try:
        parts = urlsplit(url or "")
        return parts.scheme.lower(), parts.hostname or ""
    except ValueError:
        return "", ""


def check(url: str, *, unresolved_ok: bool = False, entries: tuple[str, ...] | None = None) -> Verdict:
    """Whether a mirror may fetch from ``url``.

    ``unresolved_ok``: when registering, a name that does not resolve (yet, or not from the web
    server) is let through; the check before each fetch, which needs an address, refuses it.
    """
    entries = allowed_entries() if entries is None else entries
    scheme, host = host_of(url)
    if scheme not in SCHEMES or not host:
        return Verdict("Mirrors fetch only over http://, https:// or ssh://.")
    addresses = egress.resolve(host)
    found = egress.host_refusal(host, entries, unresolved_ok=unresolved_ok, addresses=addresses)
    if found is not None:
        return Verdict(found.explain(REFUSED_AS, SETTING), host)
    return Verdict(None, host, tuple(addresses or ()))


def git_options(url: str, verdict: Verdict) -> list[str]:
    """``-c`` options that hold git to the checked addresses and to the URL it was given."""
    options = ["-c", "http.followRedirects=false"]
    scheme, host = host_of(url)
    if scheme in ("http", "https") and verdict.addresses and egress.literal(host) is None:
        port = urlsplit(url).port or (443 if scheme == "https" else 80)
        pinned = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in verdict.addresses)
        options += ["-c", f"http.curloptResolve={host}:{port}:{pinned}"]
    return options
