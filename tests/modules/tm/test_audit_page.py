"""The audit page reads as sentences ("… added member alice as Admin") with actor, action and date
filters, paging, and links to the targets (taiji.platform.audit_sentences)."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from taiji.modules.tm import services as tm
from taiji.platform import audit, audit_sentences
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from tests.factories import make_member


def _sentences(html: str) -> list[str]:
    return re.findall(r'data-testid="audit-sentence">([^<]*)<', html)


def test_entries_read_as_sentences_with_links_to_their_targets(login, admin, tenant):
    alice = make_member(tenant, "admin", email="alice@example.com")
    tm.rename_tenant(tenant, "Renamed Co")
    audit.record("zz.thing.poked", "thing", "t-1", tenant=tenant, actor=admin)
    db.session.commit()
    html = login(admin).get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    sentences = _sentences(html)
    assert any(s.endswith(f"added member {alice.email} as Admin") for s in sentences), sentences
    assert any("renamed the tenant from" in s and s.endswith("to Renamed Co") for s in sentences)
    # An action nobody words: the generic sentence.
    assert f"{admin.email} did zz.thing.poked on t-1" in sentences
    row = html[html.index('data-action="tm.member.added"'):]
    link = f'href="/t/{tenant.slug}/members" data-testid="audit-target">{alice.email}</a>'
    assert link in row[:row.index("</tr>")]


def test_filters_by_actor_action_and_dates(login, admin, tenant):
    make_member(tenant, "member", email="bob@example.com")
    audit.record("tm.tenant.renamed", "tenant", tenant.slug, tenant=tenant, actor=admin,
                 details={"from": "A", "to": "B"})
    old = audit.record("tm.tenant.renamed", "tenant", tenant.slug, tenant=tenant, actor=admin,
                       details={"from": "Old", "to": "A"})
    db.session.flush()
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == old.id)
                       .values(created_at=dt.datetime(2020, 5, 1, 12, tzinfo=dt.UTC)))
    db.session.commit()
    client = login(admin)

    def shown(**query):
        html = client.get(f"/t/{tenant.slug}/audit", query_string=query).get_data(as_text=True)
        return _sentences(html), html

    by_actor, _html = shown(actor=admin.email.upper())
    assert by_actor and all(s.startswith(admin.email) for s in by_actor)
    by_action, _html = shown(action="tm.member")
    assert by_action and all("member" in s for s in by_action)
    in_2020, html = shown(since="2020-04-30", until="2020-05-01")
    assert in_2020 == [f"{admin.email} renamed the tenant from Old to A"]
    assert 'value="2020-04-30"' in html
    nothing, html = shown(since="2020-05-02", until="2020-05-03")
    assert nothing == [] and "No entries match" in html
    # A date that is no date is no filter (and no error).
    assert client.get(f"/t/{tenant.slug}/audit", query_string={"since": "yesterday"}).status_code == 200


def test_filters_survive_paging(login, admin, tenant):
    for n in range(22):
        tm.rename_tenant(tenant, f"Name {n}")
    db.session.commit()
    page = login(admin).get(f"/t/{tenant.slug}/audit", query_string={"action": "tm.tenant"})
    html = page.get_data(as_text=True)
    assert "page 1 of 2" in html
    assert re.search(r'href="[^"]*action=tm.tenant[^"]*page=2|href="[^"]*page=2[^"]*action=tm.tenant', html)


def test_sentences_in_chinese(login, admin, tenant):
    make_member(tenant, "admin", email="carol@example.com")
    db.session.commit()
    client = login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    sentences = _sentences(client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True))
    assert any("添加" in s and "carol@example.com" in s and "管理员" in s for s in sentences), sentences


def test_a_sentence_missing_a_value_still_reads(app):
    entry = AuditEntry(action="tm.member.role_changed", target="x@example.com", target_type="member",
                       details={}, actor_email=None)
    with app.test_request_context():
        text = audit_sentences.describe(entry)
    assert "x@example.com" in text and "?" in text


def test_a_pipeline_started_reads_as_a_sentence_linking_the_pipeline(login, admin, tenant):
    audit.record("cicd.pipeline.create", "cicd_pipeline", "app#3", tenant=tenant, actor=admin,
                 details={"ref": "main", "sha": "0" * 40, "trigger": "push", "id": 42, "protected": False})
    audit.record("cicd.secret.set", "cicd_secret", "DEPLOY_KEY", tenant=tenant, actor=admin)
    db.session.commit()
    html = login(admin).get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    assert f"{admin.email} started the pipeline app#3 on main" in _sentences(html)
    assert f'href="/t/{tenant.slug}/pipelines/42" data-testid="audit-target">app#3</a>' in html
    assert f"{admin.email} set the CI secret DEPLOY_KEY" in _sentences(html)


def test_jenkins_and_runner_settings_read_as_sentences(login, admin, tenant):
    audit.record("cicd.jenkins.create", "cicd_jenkins_controller", "main", tenant=tenant, actor=admin,
                 details={"url": "https://ci.example.test", "username": "bot", "default": True})
    audit.record("cicd.jenkins.trigger", "cicd_jenkins_controller", "main/deploy", tenant=tenant, actor=admin,
                 details={"queue_id": 7, "parameters": []})
    audit.record("cicd.repository.runner", "cicd_repository_settings", "shop", tenant=tenant, actor=admin,
                 details={"default_runner": "platform", "jenkins_controller": None})
    db.session.commit()
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    sentences = _sentences(html)
    assert f"{admin.email} added the Jenkins controller main" in sentences
    assert f"{admin.email} started the Jenkins job deploy on main" in sentences
    assert f"{admin.email} made Taiji's own runner the runner of shop's jobs" in [
        s.replace("&#39;", "'") for s in sentences]
    controller = f"/t/{tenant.slug}/pipelines/jenkins/main"
    assert f'href="{controller}" data-testid="audit-target">main/deploy</a>' in html
    assert not [s for s in sentences if " did cicd." in s]
    client.post("/locale", data={"locale": "zh_Hans"})
    chinese = _sentences(client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True))
    assert f"{admin.email} 在 main 上启动了 Jenkins 任务 deploy" in chinese


def test_the_sign_in_directory_and_groups_read_as_sentences(login, admin, tenant):
    audit.record("iam.ldap.bind", "user", "ann@corp.example", tenant=tenant,
                 details={"directory": "ldap://dir.example", "outcome": "accepted"})
    audit.record("iam.ldap.bind", "user", "bob@corp.example", tenant=tenant,
                 details={"directory": "ldap://dir.example", "outcome": "refused", "reason": "bad password"})
    audit.record("iam.role.synced", "user", "17", tenant=tenant,
                 details={"roles": ["admin", "deployers"], "source": "directory"})
    audit.record("iam.group.member_added", "group", "ops", tenant=tenant, actor=admin,
                 details={"email": "ann@corp.example", "source": "console"})
    audit.record("iam.domain.approved", "domain", "corp.example", tenant=tenant, actor=admin,
                 details={"method": "admin"})
    db.session.commit()
    client = login(admin)
    sentences = _sentences(client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True))
    assert "ann@corp.example signed in through the sign-in directory" in sentences
    assert "The sign-in directory refused a sign-in as bob@corp.example" in sentences
    assert "The sign-in directory set the roles of user 17: admin, deployers" in sentences
    assert f"{admin.email} added ann@corp.example to the group ops" in sentences
    assert f"{admin.email} approved the email domain corp.example" in sentences
    assert not [s for s in sentences if " did iam." in s], sentences
    client.post("/locale", data={"locale": "zh_Hans"})
    chinese = _sentences(client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True))
    assert "登录目录拒绝了以 bob@corp.example 身份的登录" in chinese


def test_the_audit_page_takes_odd_filters(login, admin, tenant):
    client = login(admin)
    for query in ({"actor": "a\x00b"}, {"action": "\x00"}, {"since": "2020-13-45"}, {"until": "\x00"},
                  {"page": "-3"}):
        assert client.get(f"/t/{tenant.slug}/audit", query_string=query).status_code == 200, query
