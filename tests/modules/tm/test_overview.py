"""The tenant overview: humanised quotas, the modules' panels (recent pipelines) and the items
needing attention they register (taiji.platform.overview): parked transactions, failed pipelines on
default branches, tokens about to expire; the parked count as the Transactions menu badge."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import sqlalchemy as sa

from taiji.modules.cicd.models import Pipeline
from taiji.modules.iam import services as iam
from taiji.modules.vcs import services as vcs
from taiji.platform import overview
from taiji.platform.db import db, utcnow
from taiji.platform.tx import services as tx
from taiji.platform.tx.models import PARKED, Transaction
from tests.factories import system_principal


def _pipeline(tenant, repository, number, ref, status):
    row = Pipeline(tenant_id=tenant.id, repository=repository, number=number, ref=ref, sha=f"{number:040d}",
                   trigger="push", status=status)
    db.session.add(row)
    db.session.flush()
    return row


def _parked(tenant):
    gid = f"park-{uuid.uuid4().hex[:8]}"
    tx.submit_saga([{"name": "reserve", "action": "http://10.0.0.9/r"}], gid=gid, tenant=tenant)
    db.session.execute(sa.update(Transaction).where(Transaction.gid == gid)
                       .values(state=PARKED, last_error="reserve compensate: FAIL (stock service said no)"))
    db.session.commit()
    return gid


def _attention(html: str) -> str:
    start = html.index('data-testid="attention"')
    end = html.find('data-testid="overview-panel"', start)
    return html[start:end if end > 0 else html.index('data-testid="quota-table"')]


def test_a_quiet_tenant_says_nothing_needs_attention(login, admin, tenant):
    html = login(admin).get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert 'data-testid="attention-empty"' in html
    assert 'data-panel="cicd.recent"' in html and "No pipeline has run yet." in html
    assert 'data-testid="nav-badge"' not in html


def test_parked_transactions_show_on_the_overview_and_as_a_menu_badge(login, admin, tenant):
    gids = [_parked(tenant), _parked(tenant)]
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    attention = _attention(html)
    for gid in gids:
        assert f"Transaction {gid} is parked and waits for a person." in attention
        assert f'href="/t/{tenant.slug}/transactions/{gid}"' in attention
    assert "stock service said no" in attention
    # The badge on the Transactions entry, on every page of the tenant.
    members = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    entry = members[members.index(f'href="/t/{tenant.slug}/transactions"'):]
    assert entry[:entry.index("</a>")].count('data-testid="nav-badge"') == 1
    assert '>2</span>' in entry[:entry.index("</a>")]


def test_failed_default_branch_pipelines_need_attention_and_recent_pipelines_are_listed(login, admin, tenant):
    for name in ("app", "lib"):
        vcs.create_repository(tenant, {"name": name}, actor=system_principal())
    failed = _pipeline(tenant, "app", 1, "refs/heads/main", "failed")
    _pipeline(tenant, "app", 2, "refs/heads/feature", "failed")  # not the default branch
    _pipeline(tenant, "lib", 1, "main", "failed")
    _pipeline(tenant, "lib", 2, "main", "success")  # fixed since
    db.session.commit()
    html = login(admin).get(f"/t/{tenant.slug}/").get_data(as_text=True)
    attention = _attention(html)
    assert "The latest pipeline of app on its default branch main failed." in attention
    assert f'href="/t/{tenant.slug}/pipelines/{failed.id}"' in attention
    assert "lib on its default branch" not in attention and "feature" not in attention
    panel = html[html.index('data-panel="cicd.recent"'):]
    assert "lib #2 on main" in panel and "app #2 on feature" in panel


def test_tokens_expiring_within_a_week_need_their_owners_attention(login, admin, tenant):
    iam.create_token(admin, "soon", expires_at=utcnow() + dt.timedelta(days=3))
    iam.create_token(admin, "later", expires_at=utcnow() + dt.timedelta(days=30))
    db.session.commit()
    attention = _attention(login(admin).get(f"/t/{tenant.slug}/").get_data(as_text=True))
    assert "Your token soon expires soon." in attention and 'href="/profile/tokens"' in attention
    assert "later" not in attention


def _quota_row(html: str, label: str) -> list[str]:
    table = html[html.index('data-testid="quota-table"'):]
    row = table[table.index(f"<td>{label}</td>"):]
    return re.findall(r"<td>([^<]*)</td>", row[:row.index("</tr>")])


def test_quota_usage_is_humanised(login, admin, tenant):
    from taiji.platform import quotas

    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    table = html[html.index('data-testid="quota-table"'):]
    assert "% used" in table or "Unlimited" in table
    # The longest a job may run: a duration, not "3,600" seconds.
    assert _quota_row(html, "Longest run time of a job") == ["Longest run time of a job", "0 s", "1 h"]
    quotas.set_limit(tenant, "cicd.job_timeout_seconds", 5400)
    db.session.commit()
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert _quota_row(html, "Longest run time of a job")[1:] == ["0 s", "1 h 30 min"]
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert _quota_row(html, "单个任务的最长运行时间")[1:] == ["0 秒", "1 小时 30 分钟"]


def test_a_failing_provider_leaves_its_part_out(app, admin, tenant):
    from taiji.platform.auth import Principal
    from taiji.platform.module import Module

    def broken(tenant, principal):
        raise RuntimeError("boom")

    extra = Module(code="zz", title="ZZ", overview=[overview.Attention("zz.broken", broken),
                                                    overview.Panel("zz.p", "P", broken, "none")])
    with app.test_request_context():
        app.extensions["taiji_modules"].append(extra)
        try:
            principal = Principal(user_id=admin.id, email=admin.email, name="A", is_admin=True, via="session")
            assert all(p.panel.key != "zz.p" for p in overview.panels(tenant, principal))
            assert overview.attention(tenant, principal) == []
        finally:
            app.extensions["taiji_modules"].remove(extra)


def test_the_overview_in_chinese(login, admin, tenant):
    client = login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "需要处理" in html and "Needs attention" not in html
    assert "Recent pipelines" not in html
