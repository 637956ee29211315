"""The kernel's mail sender against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import pytest

from taiji.platform import mail
from taiji.platform.db import db
from tests.smtpserver import SmtpServer


def test_a_mail_reaches_the_smtp_server(app, monkeypatch):
    with SmtpServer() as smtp:
        monkeypatch.setitem(app.config, "SMTP_URL", smtp.url)
        monkeypatch.setitem(app.config, "MAIL_FROM", "Taiji <noreply@taiji.test>")
        assert mail.configured()
        mail.send("ada@example.com", "Hello", "Plain words.\nSecond line.")
        sender, recipients, message = smtp.wait_for(1)[0]
    assert sender == "noreply@taiji.test" and recipients == ["ada@example.com"]
    assert message["Subject"] == "Hello" and message["From"] == "Taiji <noreply@taiji.test>"
    assert message.get_content().replace("\r\n", "\n").strip() == "Plain words.\nSecond line."
    assert message["Message-ID"] and message["Date"]


def test_a_mail_sent_after_commit_leaves_once_the_work_commits(app, monkeypatch):
    with SmtpServer() as smtp:
        monkeypatch.setitem(app.config, "SMTP_URL", smtp.url)
        mail.send_after_commit("kept@example.com", "Sent", "This one is committed.")
        assert smtp.wait_for(1, timeout=0.5) == []
        db.session.commit()
        inbox = smtp.wait_for(1)
        assert [r for _, r, _ in inbox] == [["kept@example.com"]]


def test_no_mail_server_configured(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_URL", "")
    assert not mail.configured()
    with pytest.raises(mail.MailError, match="No mail server"):
        mail.send("ada@example.com", "Hello", "Body")


def test_a_password_is_never_sent_to_a_server_without_tls(app, monkeypatch):
    with SmtpServer() as smtp:
        monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://taiji:secret@127.0.0.1:{smtp.port}")
        with pytest.raises(mail.MailError, match="in the clear"):
            mail.send("ada@example.com", "Hello", "Body")
        assert smtp.inbox == []


def test_an_unreachable_server_is_a_clear_error(app, monkeypatch):
    with SmtpServer() as smtp:
        port = smtp.port
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{port}")
    with pytest.raises(mail.MailError, match=f"127.0.0.1:{port} did not take the mail"):
        mail.send("ada@example.com", "Hello", "Body")
