"""Forgot password: the link on the sign-in page, the request that answers the same for every
address, the mail through a real SMTP server, the single-use time-limited link (only its hash
stored), the password policy, and the sessions the reset ends."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
import sqlalchemy as sa

from taiji.modules.iam import services as iam
from taiji.modules.iam.sessions.models import SignInLink
from taiji.platform.db import db, utcnow
from tests.factories import PASSWORD, make_user
from tests.smtpserver import SmtpServer

LINK = re.compile(r"https?://[^\s/]+(/login/reset/([\w-]+))")
NEW = "Violet-Lantern-Orchard-41"


@pytest.fixture
def smtp(app):
    with SmtpServer() as server:
        app.config["SMTP_URL"] = server.url
        try:
            yield server
        finally:
            app.config["SMTP_URL"] = ""


def _ask(client, email):
    return client.post("/login/forgot", data={"email": email})


def _mailed_link(smtp, count=1):
    _from, to, message = smtp.wait_for(count)[count - 1]
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return to, found.group(1), found.group(2)


def test_the_sign_in_page_links_to_the_forgot_password_page(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/login/forgot"' in html
    assert client.get("/login/forgot").status_code == 200


def test_the_full_flow_mails_a_link_that_sets_a_new_password_once(app, client, smtp):
    user = make_user(email="forgetful@example.com")
    db.session.commit()
    other = app.test_client()
    from tests.conftest import complete_sign_in
    complete_sign_in(other, other.post("/login", data={"email": user.email, "password": PASSWORD}))
    assert other.get("/profile").status_code == 200

    answer = _ask(client, "Forgetful@Example.com")
    assert answer.status_code == 302
    to, path, token = _mailed_link(smtp)
    assert to == ["forgetful@example.com"]
    # Only the hash is stored.
    row = db.session.execute(sa.select(SignInLink).where(SignInLink.purpose == "reset-password")).scalar_one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash

    page = client.get(path)
    assert page.status_code == 200 and 'data-testid="reset-form"' in page.get_data(as_text=True)
    weak = client.post(path, data={"new": "password123", "confirm": "password123"})
    assert weak.status_code == 422 and 'data-testid="error-summary"' in weak.get_data(as_text=True)
    differ = client.post(path, data={"new": NEW, "confirm": NEW + "x"})
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(as_text=True)

    done = client.post(path, data={"new": NEW, "confirm": NEW})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    db.session.expire_all()
    assert iam.authenticate(user.email, NEW) is not None
    assert iam.authenticate(user.email, PASSWORD) is None
    # The other browser's session has ended.
    assert other.get("/profile").status_code == 302
    # Used once: the same link is refused afterwards.
    again = client.get(path)
    assert again.status_code == 410 and 'data-testid="reset-invalid"' in again.get_data(as_text=True)
    other_password = "Another-Lantern-77x"
    assert client.post(path, data={"new": other_password, "confirm": other_password}).status_code == 410
    db.session.expire_all()
    assert iam.authenticate(user.email, NEW) is not None


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, smtp):
    make_user(email="known@example.com")
    db.session.commit()
    unknown = _ask(client, "nobody@example.com")
    known = _ask(client, "known@example.com")
    assert unknown.status_code == known.status_code == 302
    flash_unknown = client.get("/login").get_data(as_text=True)
    assert "If an account uses nobody@example.com" in flash_unknown
    smtp.wait_for(1)
    assert [to for _f, to, _m in smtp.inbox] == [["known@example.com"]]


def test_an_expired_link_is_refused(client, smtp):
    user = make_user(email="late@example.com")
    db.session.commit()
    _ask(client, user.email)
    _to, path, _token = _mailed_link(smtp)
    db.session.execute(sa.update(SignInLink).where(SignInLink.purpose == "reset-password")
                       .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()
    assert client.get(path).status_code == 410
    assert client.post(path, data={"new": NEW, "confirm": NEW}).status_code == 410
    db.session.expire_all()
    assert iam.authenticate(user.email, PASSWORD) is not None


def test_a_link_of_another_purpose_does_not_reset(client, smtp):
    from taiji.modules.iam.sessions import links

    user = make_user(email="purpose@example.com")
    token = links.issue(user, links.SIGN_IN, dt.timedelta(minutes=15))
    db.session.commit()
    assert client.get(f"/login/reset/{token}").status_code == 410


def test_asking_is_rate_limited_per_address(client, smtp):
    make_user(email="flood@example.com")
    db.session.commit()
    for _ in range(5):
        assert _ask(client, "flood@example.com").status_code == 302
    smtp.wait_for(3)
    import time
    time.sleep(0.3)
    assert len(smtp.inbox) == 3  # PER_EMAIL


def test_a_bad_address_shows_the_error_under_the_field_and_in_the_summary(client):
    response = _ask(client, "not-an-address")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-testid="error-summary"' in html and 'href="#email"' in html


def test_the_pages_in_chinese(client, smtp):
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.get("/login/forgot").get_data(as_text=True)
    assert "忘记密码" in html
    assert "Forgot your password?" not in html


@pytest.mark.parametrize("email", ["a\x00@example.com", "x" * 300 + "@example.com", ""])
def test_bad_addresses_are_422_never_500(client, email):
    assert client.post("/login/forgot", data={"email": email}).status_code == 422


@pytest.mark.parametrize("token", ["a" * 500, "%00abc", "..", "x"])
def test_bad_links_are_410(client, token):
    assert client.get(f"/login/reset/{token}").status_code == 410
    assert client.post(f"/login/reset/{token}", data={"new": NEW, "confirm": NEW}).status_code == 410

