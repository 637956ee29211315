"""Every field error of a refused form at once: each under its field with its label, and a summary
at the top of the page (role=alert, focusable, linked to the fields), from the kernel's layout and
field macro whatever the form; taiji.js moves it to the top of the form (tests/e2e/test_home.py)."""

from __future__ import annotations

import re

from taiji.platform.web import formerrors
from tests.factories import make_user


def test_a_form_with_three_bad_fields_shows_three_errors_and_the_summary(login, client):
    login(make_user())
    response = client.post("/profile/tokens", data={"name": "", "expires_on": "not a date",
                                                    "scopes": "no:such:scope"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    summary = re.search(r'<div class="alert alert-danger" role="alert" tabindex="-1" data-error-summary'
                        r'.*?</div>', html, re.S).group(0)
    assert summary.count('data-testid="error-summary-item"') == 3
    assert "There are 3 problems to fix." in summary
    # Linked to the fields, with their labels.
    assert '<a href="#name" data-field="name" class="alert-link">Name</a>' in summary
    assert '<a href="#expires_on" data-field="expires_on" class="alert-link">Expires on</a>' in summary
    assert '>Scopes</a>' in summary
    # Each error also under its own field, tied to it for screen readers.
    assert 'id="name-error"' in html and 'aria-describedby="name-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'id="expires_on-error"' in html


def test_a_valid_form_has_no_summary(login, client):
    login(make_user())
    html = client.get("/profile/tokens").get_data(as_text=True)
    assert 'data-testid="error-summary-item"' not in html and 'id="error-summary-form"' not in html


def test_the_summary_is_translated(login, client):
    login(make_user())
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.post("/profile/tokens", data={"name": "", "expires_on": "x"}).get_data(as_text=True)
    assert "有 2 个问题需要修改。" in html


def test_problems_keep_the_fields_order_and_hide_the_csrf_field_link(app):
    from flask_wtf import FlaskForm
    from wtforms import StringField

    class Form(FlaskForm):
        first = StringField("First")
        second = StringField("Second")

    with app.test_request_context():
        form = Form(meta={"csrf": False})
        form.second.errors = ["two"]
        form.first.errors = ["one", "uno"]
        found = formerrors.problems(form)
    assert [(p.field_id, p.label, p.message) for p in found] == [
        ("first", "First", "one"), ("first", "First", "uno"), ("second", "Second", "two")]
