"""Mail Taiji sends itself (sign-in links, invitations, address verification), through the
operator's SMTP server.

``TAIJI_SMTP_URL`` names the server: ``smtp://[user:password@]host[:port]`` (port 25 by default;
STARTTLS whenever the server offers it, and a login is never sent before it), or
``smtps://…`` for TLS from the first byte (port 465 by default). Empty: Taiji sends no mail,
and the pages that would offer mail say so.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app, has_app_context

from taiji.platform.db import after_commit

log = logging.getLogger(__name__)
TIMEOUT = 10  # seconds; a mail server that hangs must not hold a web worker for long


class MailError(Exception):
    """The mail could not be handed to the server; the message says why, without secrets."""


@dataclass(frozen=True)
class Server:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str


def _server(smtp_url: str, sender: str) -> Server | None:
    if not smtp_url:
        return None
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailError("TAIJI_SMTP_URL must look like smtp://host:port or smtps://host:port.")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise MailError("TAIJI_SMTP_URL has an invalid port.") from None
    return Server(parts.scheme, parts.hostname, port,
                  unquote(parts.username) if parts.username else None,
                  unquote(parts.password) if parts.password else None, sender)


def _current() -> Server | None:
    if not has_app_context():
        return None
    config = current_app.config
    return _server(config.get("SMTP_URL") or "", config.get("MAIL_FROM") or "Taiji <noreply@localhost>")


def configured() -> bool:
    """Whether this install can send mail (TAIJI_SMTP_URL is set)."""
    return bool(has_app_context() and current_app.config.get("SMTP_URL"))


def _deliver(server: Server, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=server.sender.rpartition("@")[2].strip("> ") or None)
    message.set_content(body)
    context = ssl.create_default_context()
    try:
        if server.scheme == "smtps":
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        with client:
            client.ehlo()
            encrypted = server.scheme == "smtps"
            if not encrypted and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                encrypted = True
            if server.username:
                if not encrypted:
                    raise MailError(f"{server.host}:{server.port} does not offer STARTTLS; "
                                    "Taiji will not send the mail password in the clear.")
                client.login(server.username, server.password or "")
            client.send_message(message)
    except MailError:
        raise
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"The mail server {server.host}:{server.port} did not take the mail: "
                        f"{exc.__class__.__name__}: {exc}") from None


def send(to: str, subject: str, body: str) -> None:
    """Send a plain-text mail now; raises MailError when it cannot be handed over."""
    server = _current()
    if server is None:
        raise MailError("No mail server is configured (TAIJI_SMTP_URL).")
    _deliver(server, to, subject, body)


def send_after_commit(to: str, subject: str, body: str) -> None:
    """Send once the request's work has committed, in the background.

    The answer to the request does not wait for the mail server, so how long it takes does not
    tell the caller whether a mail was sent at all. A failure is logged (never the body).
    """
    server = _current()
    if server is None:
        return

    def deliver() -> None:
        try:
            _deliver(server, to, subject, body)
        except MailError as exc:
            log.warning("mail to %s not sent: %s", to, exc)

    after_commit(lambda: threading.Thread(target=deliver, name="taiji-mail", daemon=True).start())
