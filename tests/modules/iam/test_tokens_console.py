"""Personal tokens from the console: scopes grouped by module, a proposed expiry of 30 days, the
token shown once with a copy button."""

from __future__ import annotations

import datetime as dt
import re

from taiji.modules.iam import services as iam
from taiji.platform.db import utcnow
from tests.factories import make_user


def test_scopes_are_grouped_by_module_and_30_days_are_proposed(login, client):
    login(make_user())
    html = client.get("/profile/tokens").get_data(as_text=True)
    groups = re.findall(r'<fieldset class="mb-2" data-testid="scope-group">\s*'
                        r'<legend class="h5 mb-1">([^<]+)</legend>(.*?)</fieldset>', html, re.S)
    titles = [title for title, _body in groups]
    assert {"Tenants", "Pipelines", "Identity and access", "Transactions"} <= set(titles)
    assert titles == sorted(titles, key=str.casefold)
    for title, body in groups:
        codes = set(re.findall(r'name="scopes" value="([a-z]+):', body))
        assert len(codes) == 1, (title, codes)  # one module per group
    expected = (utcnow().date() + dt.timedelta(days=30)).isoformat()
    assert f'name="expires_on" type="date" value="{expected}"' in html or \
        re.search(rf'id="expires_on"[^>]*value="{expected}"', html)


def test_the_new_token_is_shown_once_with_a_copy_button_and_keeps_its_chosen_expiry(login, client):
    user = make_user()
    login(user)
    day = (utcnow().date() + dt.timedelta(days=10)).isoformat()
    response = client.post("/profile/tokens", data={"name": "ci", "expires_on": day,
                                                    "scopes": ["cicd:pipeline:read", "vcs:repository:read"]})
    html = response.get_data(as_text=True)
    token = re.search(r'data-testid="new-token">([^<]+)<', html).group(1)
    assert 'data-copy="#new-token"' in html and 'id="new-token"' in html
    (row,) = iam.list_tokens(user)
    assert row.expires_at.date().isoformat() == day
    assert sorted(row.scopes) == ["cicd:pipeline:read", "vcs:repository:read"]
    assert token not in client.get("/profile/tokens").get_data(as_text=True)


def test_clearing_the_proposed_expiry_makes_a_token_that_does_not_expire(login, client):
    user = make_user()
    login(user)
    client.post("/profile/tokens", data={"name": "forever", "expires_on": ""})
    (row,) = iam.list_tokens(user)
    assert row.expires_at is None


def test_a_tokens_dates_keep_their_date_and_time_whole(login, client):
    """On a phone the dates' column is narrow: each date wraps onto two lines at most, between its
    date and its time (the screenshots at 390 px, tests/e2e/test_no_english.py, show it)."""
    user = make_user()
    login(user)
    iam.create_token(user, "ci", expires_at=utcnow() + dt.timedelta(days=3))
    html = client.get("/profile/tokens").get_data(as_text=True)
    cells = re.findall(r'<td><span class="text-nowrap">(\d{4}-\d\d-\d\d)</span> '
                       r'<span class="text-nowrap">(\d\d:\d\d UTC)</span></td>', html)
    assert len(cells) == 2  # created and expires; never used reads "Never"
