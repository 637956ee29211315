"""Invitations sent by mail (a real SMTP server on loopback): in the invitee's language when
their account has one, the link only in the mail."""

from __future__ import annotations

from taiji.modules.iam import services as iam
from taiji.modules.tm import services
from taiji.platform.db import db
from tests.factories import make_user, system_principal
from tests.smtpserver import SmtpServer


def test_the_invitation_is_mailed_in_the_invitees_language(app, tenant, monkeypatch):
    chinese = make_user(email="zh@example.com")
    iam.set_locale(chinese.id, "zh_Hans")
    with SmtpServer() as smtp:
        monkeypatch.setitem(app.config, "SMTP_URL", smtp.url)
        sent = [services.invite(tenant, email, "member", actor=system_principal())
                for email in (chinese.email, "nobody-yet@example.com")]
        db.session.commit()
        inbox = smtp.wait_for(2)
    assert [(invitation.delivery, token) for invitation, token in sent] == [("mail", None), ("mail", None)]
    by_address = {rcpts[0]: message for _, rcpts, message in inbox}
    zh, en = by_address[chinese.email], by_address["nobody-yet@example.com"]
    assert zh["Subject"] == f"Taiji 上 {tenant.name} 的邀请" and "以成员身份加入" in zh.get_content()
    assert en["Subject"] == f"Invitation to {tenant.name} on Taiji"
    assert "as Member" in en.get_content() and "http://taiji.test/invitations/" in en.get_content()
