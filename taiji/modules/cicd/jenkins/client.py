"""Talking to a tenant's Jenkins controller: where Taiji may connect, how, and what a failure means.

A controller's URL is chosen by a tenant, so every call Taiji makes to it is Taiji connecting
where a tenant says. The platform's address policy (``taiji.platform.egress``) applies, with
``TAIJI_CICD_JENKINS_ALLOWED_HOSTS`` as the operator's allow-list: when the controller is saved
(a field error) and right before every conversation, which then connects only to the addresses
that were checked (``egress.connect``), so a DNS answer that changes in between cannot move it.
For https the certificate is still checked against the URL's host name. A redirect to another
host is refused rather than followed.

Calls go through ``python-jenkins`` (its session keeps Jenkins' crumb and the session cookie the
crumb belongs to). Whatever goes wrong becomes a ``JenkinsError`` whose text is a sentence for
people and whose ``kind`` says what kind of failure it was.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from flask import current_app, has_app_context

from taiji.platform import egress
from taiji.platform.errors import Msg, msg

if TYPE_CHECKING:  # python-jenkins and requests are imported where used: they cost every start-up
    import jenkins
    import requests

SETTING = "TAIJI_CICD_JENKINS_ALLOWED_HOSTS"
REFUSED_AS = "an address Jenkins controllers may not be at"
# Seconds per request: a controller that hangs must not hold a worker thread for long.
TIMEOUT = 10
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Kinds of failure (JenkinsError.kind).
REFUSED = "refused"  # the egress policy, or a URL Taiji will not use
UNREACHABLE = "unreachable"
CREDENTIALS = "credentials"
NOT_JENKINS = "not_jenkins"
NOT_FOUND = "not_found"
FAILED = "failed"


class JenkinsError(Exception):
    """A call to a controller failed; ``str()`` is a sentence for the person who asked (in the
    request's language when ``message`` is marked with ``msg``; English outside a request)."""

    def __init__(self, message: str | Msg, kind: str = FAILED, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status

    def __str__(self) -> str:
        return str(self.message)


def allowed_entries() -> tuple[str, ...]:
    if not has_app_context():
        return ()
    return tuple(current_app.config.get("CICD_JENKINS_ALLOWED_HOSTS") or ())


def check_url(url: str) -> str:
    """The URL, normalised (no trailing slash); ValueError says what is wrong with it."""
    url = (url or "").strip()
    if not url or CONTROL.search(url):
        raise ValueError("Give the controller's URL, like https://jenkins.example.com/.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("The URL's host or port is not valid.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("Use an http:// or https:// URL.")
    if not parts.hostname:
        raise ValueError("The URL names no host.")
    if parts.username or parts.password:
        raise ValueError("Put the user and API token in their own fields, not in the URL.")
    if parts.query or parts.fragment:
        raise ValueError("The URL must not have a query or a fragment.")
    return url.rstrip("/")


def refusal(url: str, *, unresolved_ok: bool = False) -> str | None:
    """Why Taiji may not talk to a controller at ``url`` (bad URL or egress policy), or None."""
    try:
        url = check_url(url)
    except ValueError as exc:
        return str(exc)
    host = urlsplit(url).hostname or ""
    found = egress.host_refusal(host, allowed_entries(), unresolved_ok=unresolved_ok)
    return found.explain(REFUSED_AS, SETTING) if found else None


# -- connections pinned to the checked addresses ---------------------------------------------------


def _pinned_classes(addresses: tuple[str, ...]):
    """urllib3 connection pools whose sockets go to ``addresses`` whatever the host name says now;
    the Host header, SNI and the certificate check keep the URL's host."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else TIMEOUT
        try:
            sock = egress.connect(addresses, self.port, timeout, self.source_address)
        except TimeoutError as exc:
            from urllib3.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            from urllib3.exceptions import NewConnectionError

            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    http = type("PinnedHTTPConnection", (HTTPConnection,), {"_new_conn": new_conn})
    https = type("PinnedHTTPSConnection", (HTTPSConnection,), {"_new_conn": new_conn})
    return (
        type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    )


@cache
def _pinned_adapter():
    """The class of a requests adapter that reaches only the controller's host, at the addresses
    checked (made on first use: requests is imported where used)."""
    import requests
    from requests.adapters import HTTPAdapter

    class PinnedAdapter(HTTPAdapter):
        def __init__(self, host: str, addresses: tuple[str, ...]):
            self._host = host.lower()
            self._pools = _pinned_classes(addresses)
            # No retries: a trigger sent twice would be two builds.
            super().__init__(max_retries=0)

        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": self._pools[0], "https": self._pools[1]}

        def send(self, request, *args, **kwargs):
            host = (urlsplit(request.url).hostname or "").lower()
            if host != self._host:
                raise requests.exceptions.ConnectionError(
                    f"the controller sent Taiji to another host ({host}); Taiji does not follow that"
                )
            return super().send(request, *args, **kwargs)

    return PinnedAdapter


@dataclass
class Controller:
    """What a conversation needs: where, as whom (the token already unsealed), and its name."""

    name: str
    url: str
    username: str
    token: str


def connect(controller: Controller) -> jenkins.Jenkins:
    """A python-jenkins handle whose every request goes to an address the egress policy allows now."""
    import jenkins

    try:
        url = check_url(controller.url)
    except ValueError as exc:
        raise JenkinsError(str(exc), REFUSED) from None
    host = urlsplit(url).hostname or ""
    addresses = egress.resolve(host)
    found = egress.host_refusal(host, allowed_entries(), addresses=addresses)
    if found is not None:
        kind = UNREACHABLE if found.address is None else REFUSED
        raise JenkinsError(found.explain(REFUSED_AS, SETTING), kind)
    server = jenkins.Jenkins(url, controller.username or None, controller.token or None, timeout=TIMEOUT)
    session = server._session
    # Proxies from the environment would be a way around the pinning.
    session.trust_env = False
    session.adapters.clear()
    adapter = _pinned_adapter()(host, tuple(str(a) for a in addresses))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return server


def web_url(value) -> str | None:
    """A link the controller gave (a build's, a job's) when it is an http(s) URL, else None: the
    console puts it in an href, and a javascript: URL there would run in Taiji's pages."""
    if not isinstance(value, str) or len(value) > 1000 or CONTROL.search(value):
        return None
    try:
        scheme = urlsplit(value).scheme.lower()
    except ValueError:
        return None
    return value if scheme in ("http", "https") else None


def job_path(name: str) -> str:
    """``job/a/job/b/`` for a job ``a/b`` inside folder ``a`` (Jenkins' URL scheme)."""
    return "".join(f"job/{quote(part, safe='')}/" for part in name.strip("/").split("/"))


def request(
    server: jenkins.Jenkins, method: str, path: str, *, stream: bool = False, **kwargs
) -> requests.Response:
    """One request through python-jenkins (auth, crumb, its error mapping) to ``path`` of the controller."""
    import requests

    return server.jenkins_request(requests.Request(method, server.server + path, **kwargs), stream=stream)


def expected(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the conversation (else it is a bug of ours, worth a trace)."""
    import jenkins
    import requests

    return isinstance(exc, JenkinsError | jenkins.JenkinsException | requests.RequestException | ValueError)


def explain(exc: BaseException, controller: Controller) -> JenkinsError:
    """A JenkinsError with a sentence for people about ``exc``, raised talking to ``controller``."""
    import jenkins
    import requests

    if isinstance(exc, JenkinsError):
        return exc
    where = _where(controller.url)
    text = str(exc)
    lowered = text.lower()
    name = controller.name
    if isinstance(exc, (jenkins.TimeoutException, requests.exceptions.Timeout)):
        return JenkinsError(
            msg("Jenkins controller '%(name)s' at %(where)s did not answer within %(seconds)s seconds.",
                name=name, where=where, seconds=TIMEOUT),
            UNREACHABLE,
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "another host" in lowered:
            return JenkinsError(msg("Jenkins controller '%(name)s' at %(where)s: %(text)s.", name=name,
                                    where=where, text=text), REFUSED)
        if "refused" in lowered:
            return JenkinsError(msg("Jenkins controller '%(name)s' at %(where)s cannot be reached (the "
                                    "connection was refused).", name=name, where=where), UNREACHABLE)
        return JenkinsError(msg("Jenkins controller '%(name)s' at %(where)s cannot be reached (%(why)s).",
                                name=name, where=where, why=_short(text)), UNREACHABLE)
    status = _status(text) or getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return JenkinsError(
            msg("Jenkins controller '%(name)s' refused the user '%(user)s' and its API token (HTTP "
                "%(status)s); check both, and that the user may read and build jobs.",
                name=name, user=controller.username, status=status),
            CREDENTIALS,
            status,
        )
    if isinstance(exc, jenkins.NotFoundException):
        return JenkinsError(msg("Jenkins controller '%(name)s': not found.", name=name), NOT_FOUND, 404)
    if isinstance(exc, ValueError | requests.exceptions.InvalidJSONError | jenkins.BadHTTPException):
        return JenkinsError(
            msg("%(where)s answered, but not as Jenkins does (%(text)s); is the URL the controller's?",
                where=where, text=_short(text)),
            NOT_JENKINS,
        )
    return JenkinsError(msg("Jenkins controller '%(name)s' at %(where)s: %(text)s", name=name, where=where,
                            text=_short(text)), FAILED, status)


def _status(text: str) -> int | None:
    match = re.search(r"\[(\d{3})\]", text)
    return int(match.group(1)) if match else None


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    except ValueError:
        return url[:200]


def _short(text: str) -> str:
    # requests nests urllib3's reasons in reprs; keep the words.
    text = re.sub(r"<[^>]*>", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:300]
