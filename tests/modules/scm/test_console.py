"""SCM console pages through the Flask test client: every page renders with data in English and in
Chinese, forms refuse bad input with their errors, a secret's value never reaches a page unless
revealed by who may read secrets, and the release flow (publish, rollback, four eyes, gray) works
from the buttons a person presses."""

from __future__ import annotations

import io
import re

import pytest

from taiji.platform.db import db
from tests.factories import make_member

SECRET = "s3cr3t-hunter2-value"


@pytest.fixture
def shop(tenant):
    """A product ``storefront`` with a component ``checkout``, as SPM keeps them."""
    from taiji.modules.spm import services as spm

    product = spm.create_product(tenant, {"slug": "storefront", "name": "Storefront"})
    component = spm.create_component(tenant, product, {"name": "checkout", "layer": "base"})
    db.session.commit()
    return component


@pytest.fixture
def configured(tenant, admin, shop):
    """checkout in dev: a tenant-wide, a component-wide and an environment value, and a secret."""
    from taiji.modules.scm import services as scm

    scm.put_item(tenant, admin, shop, "dev", "region", value="eu", layer="tenant")
    scm.put_item(tenant, admin, shop, "dev", "timeout", value=5, type="int", layer="component")
    scm.put_item(tenant, admin, shop, "dev", "timeout", value=8, type="int", description="Seconds to wait")
    scm.put_item(tenant, admin, shop, "dev", "db.password", value=SECRET, secret=True, namespace="db")
    db.session.commit()
    return shop


def base(tenant) -> str:
    return f"/t/{tenant.slug}/config/storefront:checkout/dev"


def html_of(response) -> str:
    return response.get_data(as_text=True)


def chinese(client):
    client.post("/locale", data={"locale": "zh_Hans"})
    return client


def publish(client, tenant, comment="first", **extra):
    response = client.post(f"{base(tenant)}/releases", data={"comment": comment, "gray": "", **extra})
    assert response.status_code == 302, html_of(response)[:2000]
    return response


# --- the list and the start form ------------------------------------------------------------


def test_the_list_is_empty_first_then_shows_the_configured_component(login, admin, tenant, shop):
    client = login(admin)
    page = html_of(client.get(f"/t/{tenant.slug}/config"))
    assert 'data-testid="empty-state"' in page and "No component has configuration yet" in page
    assert 'value="storefront:checkout"' in page  # the catalog's components, offered in the start form
    from taiji.modules.scm import services as scm

    scm.put_item(tenant, admin, shop, "dev", "greeting", value="hi")
    db.session.commit()
    page = html_of(chinese(client).get(f"/t/{tenant.slug}/config"))
    assert 'data-component="checkout"' in page
    assert "配置" in page and "No component has configuration yet" not in page


def test_the_start_form_opens_a_component_in_an_environment_and_explains_refusals(login, admin, tenant, shop):
    client = login(admin)
    url = f"/t/{tenant.slug}/config"
    opened = client.post(url, data={"component": "checkout", "environment": "dev"})
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith("/config/storefront:checkout/dev")
    bad_env = client.post(url, data={"component": "checkout", "environment": "Prod!"})
    assert bad_env.status_code == 422
    assert "lower-case letters" in html_of(bad_env) and 'data-testid="error-summary"' in html_of(bad_env)
    unknown = client.post(url, data={"component": "nowhere", "environment": "dev"})
    assert unknown.status_code == 422 and "nowhere" in html_of(unknown)
    assert client.get(f"{url}/nowhere/dev").status_code == 404
    assert client.get(f"{url}/checkout/NOT_AN_ENV").status_code == 404
    switched = client.get(f"{url}/checkout?environment=prod")
    assert switched.headers["Location"].endswith("/config/storefront:checkout/prod")
    assert 'data-testid="open-form"' in html_of(client.get(f"{url}/checkout"))
    wrong = client.get(f"{url}/checkout?environment=Nope!")
    assert wrong.status_code == 422 and 'id="environment-error"' in html_of(wrong)


# --- the Draft tab --------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_the_draft_shows_each_key_with_its_layer_and_masks_the_secret(login, admin, tenant, configured,
                                                                      language):
    client = login(admin)
    if language == "zh_Hans":
        chinese(client)
    page = html_of(client.get(base(tenant)))
    rows = dict(re.findall(r'data-testid="draft-item" data-key="([^"]+)" data-layer="([^"]+)"', page))
    assert rows == {"region": "tenant", "timeout": "environment", "db.password": "environment"}
    assert 'data-testid="overridden"' in page  # timeout overrides the component layer's 5
    assert "Seconds to wait" in page
    assert SECRET not in page and 'data-testid="masked"' in page
    assert 'data-testid="reveal"' in page  # the owner may read secrets
    if language == "zh_Hans":
        assert "草稿" in page and "租户" in page and "显示明文" in page and "命名空间" in page
    else:
        assert "Draft" in page and "Reveal" in page


def test_an_empty_draft_invites_the_first_item(login, admin, tenant, shop):
    page = html_of(login(admin).get(base(tenant)))
    assert 'data-testid="empty-state"' in page and 'data-testid="item-form"' in page


def test_adding_editing_and_deleting_an_item_from_the_console(login, admin, tenant, shop):
    from taiji.modules.scm import services as scm

    client = login(admin)
    added = client.post(f"{base(tenant)}/items", data={
        "key": "limits", "namespace": "application", "layer": "environment", "type": "json",
        "value": '{"rps": 10}', "description": "Rate limits"})
    assert added.status_code == 302
    assert scm.draft(tenant, shop, "dev").namespaces["application"]["limits"].value == {"rps": 10}
    edit = client.get(f"{base(tenant)}/items/edit?key=limits&namespace=application&layer=environment")
    assert edit.status_code == 200 and "&#34;rps&#34;: 10" in html_of(edit)
    changed = client.post(f"{base(tenant)}/items?edit=1", data={
        "key": "limits", "namespace": "application", "layer": "environment", "type": "json",
        "value": '{"rps": 20}', "description": "Rate limits"})
    assert changed.status_code == 302
    assert scm.draft(tenant, shop, "dev").namespaces["application"]["limits"].value == {"rps": 20}
    deleted = client.post(f"{base(tenant)}/items/delete", data={
        "key": "limits", "namespace": "application", "layer": "environment", "label": ""})
    assert deleted.status_code == 302
    assert "limits" not in scm.draft(tenant, shop, "dev").namespaces.get("application", {})


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"key": "port", "type": "json", "value": "{nope"}, "value", "Not valid JSON"),
    ({"key": ".bad", "type": "string", "value": "x"}, "key", "not starting with"),
    ({"key": "port", "type": "int", "value": "eight"}, "value", "whole number"),
    ({"key": "zoned", "type": "string", "value": "x", "layer": "label"}, "label", "selector"),
    ({"key": "zoned", "type": "string", "value": "x", "layer": "label", "label": "zone in (("}, "label", ""),
])
def test_the_item_form_shows_its_errors_and_changes_nothing(login, admin, tenant, shop, data, field, words):
    from taiji.modules.scm import services as scm

    client = login(admin)
    response = client.post(f"{base(tenant)}/items",
                           data={"namespace": "application", "layer": "environment", **data})
    assert response.status_code == 422
    page = html_of(response)
    assert 'data-testid="error-summary"' in page and f'id="{field}-error"' in page
    assert words in page
    assert scm.draft(tenant, shop, "dev").namespaces == {}


def test_the_item_form_errors_read_in_chinese(login, admin, tenant, shop):
    client = chinese(login(admin))
    page = html_of(client.post(f"{base(tenant)}/items", data={
        "key": "port", "namespace": "application", "layer": "environment", "type": "json", "value": "{nope"}))
    assert "不是有效的 JSON" in page and "Not valid JSON" not in page


def test_reveal_shows_the_secret_to_its_reader_and_audits_it(login, admin, tenant, configured):
    from taiji.platform import audit

    client = login(admin)
    ref = {"key": "db.password", "namespace": "db", "layer": "environment", "label": ""}
    full = client.post(f"{base(tenant)}/items/reveal", data=ref)
    assert full.status_code == 200 and SECRET in html_of(full)
    fragment = client.post(f"{base(tenant)}/items/reveal", data=ref, headers={"HX-Request": "true"})
    assert html_of(fragment).strip() == f'<code data-testid="revealed">{SECRET}</code>'
    revealed = audit.query(tenant=tenant, action="scm.secret.revealed").items
    assert len(revealed) == 2 and all(SECRET not in str(e.details) for e in revealed)
    # Reading the draft again masks it as before.
    assert SECRET not in html_of(client.get(base(tenant)))


def test_reveal_is_refused_without_the_secret_permission(login, tenant, configured):
    member = make_member(tenant, "member")  # read, write and publish; not scm:secret:read
    client = login(member)
    page = html_of(client.get(base(tenant)))
    assert 'data-testid="masked"' in page and 'data-testid="reveal"' not in page and SECRET not in page
    refused = client.post(f"{base(tenant)}/items/reveal",
                          data={"key": "db.password", "namespace": "db", "layer": "environment", "label": ""})
    assert refused.status_code == 403 and SECRET not in html_of(refused)


def test_a_viewer_sees_the_draft_without_forms_and_cannot_post(login, tenant, configured):
    viewer = make_member(tenant, "viewer")
    client = login(viewer)
    page = html_of(client.get(base(tenant)))
    assert 'data-testid="item-form"' not in page and 'data-testid="delete-item"' not in page
    assert client.post(f"{base(tenant)}/items", data={"key": "x", "value": "y"}).status_code == 403
    assert client.post(f"{base(tenant)}/releases", data={"comment": "no"}).status_code == 403
    assert 'data-testid="publish-form"' not in html_of(client.get(f"{base(tenant)}/diff"))


# --- diff, publish, releases ----------------------------------------------------------------


def test_diff_publish_and_rollback(login, admin, tenant, configured):
    from taiji.modules.scm import services as scm

    client = login(admin)
    diff = html_of(client.get(f"{base(tenant)}/diff"))
    assert diff.count('data-change="added"') == 3 and SECRET not in diff
    assert "nothing published yet" in diff
    publish(client, tenant, "first")
    # Nothing left to publish.
    assert 'data-testid="empty-state"' in html_of(client.get(f"{base(tenant)}/diff"))
    scm.put_item(tenant, admin, configured, "dev", "timeout", value=9, type="int")
    scm.put_item(tenant, admin, configured, "dev", "db.password", value="another-" + SECRET, secret=True,
                 namespace="db")
    db.session.commit()
    diff = html_of(client.get(f"{base(tenant)}/diff"))
    assert 'data-change="changed" data-key="timeout"' in diff and SECRET not in diff
    assert "against release #1" in diff
    publish(client, tenant, "second")
    releases = html_of(client.get(f"{base(tenant)}/releases"))
    assert re.findall(r'data-testid="release" data-number="(\d+)" data-status="(\w+)"', releases) == [
        ("2", "published"), ("1", "published")]
    assert 'data-testid="release-current"' in releases and "second" in releases
    rolled = client.post(f"{base(tenant)}/releases/1/rollback", data={"comment": ""})
    assert rolled.status_code == 302
    releases = html_of(client.get(rolled.headers["Location"]))
    assert 'data-number="3"' in releases and "Rollback to #1" in releases
    assert scm.release_for(tenant, configured, "dev").number == 3
    assert scm.config_for(tenant, configured, "dev").namespaces["application"]["timeout"] == 8
    for tab in ("releases", "history", "instances", "diff", "transfer", "schema", ""):
        assert SECRET not in html_of(client.get(f"{base(tenant)}/{tab}".rstrip("/")))


def test_publish_form_errors(login, admin, tenant, configured):
    client = login(admin)
    missing = client.post(f"{base(tenant)}/releases",
                          data={"comment": "x", "gray": "selector", "selector": ""})
    assert missing.status_code == 422 and 'id="selector-error"' in html_of(missing)
    malformed = client.post(f"{base(tenant)}/releases", data={"comment": "x", "gray": "selector",
                                                              "selector": "zone in ((bj"})
    assert (malformed.status_code == 422 and 'data-testid="error-summary"' in html_of(malformed)) \
        or 'data-testid="form-error"' in html_of(malformed)
    over = client.post(f"{base(tenant)}/releases", data={"gray": "percentage", "percentage": "150"})
    assert over.status_code == 422 and 'id="percentage-error"' in html_of(over)
    assert 'data-testid="release"' not in html_of(client.get(f"{base(tenant)}/releases"))


def test_four_eyes_the_author_cannot_approve_and_another_person_can(login, client, admin, tenant, configured):
    from taiji.modules.scm import services as scm

    owner = login(admin)
    set_policy = owner.post(f"/t/{tenant.slug}/config/-/policies",
                            data={"environment": "dev", "four_eyes": "y"})
    assert set_policy.status_code == 302
    assert 'data-testid="four-eyes-on"' in html_of(owner.get(f"/t/{tenant.slug}/config/-/policies"))
    publish(owner, tenant, "needs a second pair of eyes")
    page = html_of(owner.get(f"{base(tenant)}/releases"))
    assert 'data-status="pending"' in page and 'data-testid="four-eyes-note"' in page
    assert 'data-testid="release-approve"' not in page
    # The author pressing approve anyway (a forged form) is refused with the reason, nothing changes.
    forced = owner.post(f"{base(tenant)}/releases/1/approve", follow_redirects=True)
    assert 'data-testid="flash"' in html_of(forced)
    assert scm.release_for(tenant, configured, "dev") is None
    owner.post("/logout")
    reviewer = make_member(tenant, "member")
    second = login(reviewer)
    page = html_of(second.get(f"{base(tenant)}/releases"))
    assert 'data-testid="release-approve"' in page and 'data-testid="four-eyes-note"' not in page
    assert second.post(f"{base(tenant)}/releases/1/approve").status_code == 302
    assert scm.release_for(tenant, configured, "dev").number == 1


def test_gray_release_by_selector_shows_promote_and_abandon(login, admin, tenant, configured):
    from taiji.modules.scm import services as scm

    client = login(admin)
    publish(client, tenant, "everyone")
    scm.put_item(tenant, admin, configured, "dev", "timeout", value=10, type="int")
    db.session.commit()
    publish(client, tenant, "some", gray="selector", selector="zone=bj")
    took = scm.release_for(tenant, configured, "dev", instance="pod-bj-1", labels={"zone": "bj"}).number
    scm.record_instance(tenant, configured, "dev", "pod-bj-1", {"zone": "bj"}, took)
    scm.record_instance(tenant, configured, "dev", "pod-sh-1", {"zone": "sh"}, 1)
    db.session.commit()
    page = html_of(client.get(f"{base(tenant)}/releases"))
    assert 'data-number="2" data-status="gray"' in page and "zone=bj" in page
    gray_row = page[page.index('data-number="2"'):page.index('data-number="1"')]
    assert "pod-bj-1" in gray_row and "pod-sh-1" not in gray_row  # the instances that took it
    instances = html_of(client.get(f"{base(tenant)}/instances"))
    assert 'data-instance="pod-bj-1"' in instances and "zone=bj" in instances
    assert 'data-testid="release-promote"' in page and 'data-testid="release-abandon"' in page
    assert client.post(f"{base(tenant)}/releases/2/abandon").status_code == 302
    assert 'data-number="2" data-status="abandoned"' in html_of(client.get(f"{base(tenant)}/releases"))
    publish(client, tenant, "a fifth", gray="percentage", percentage="20")
    assert client.post(f"{base(tenant)}/releases/3/promote").status_code == 302
    assert scm.release_for(tenant, configured, "dev").number == 3


# --- history, import and export, schema -----------------------------------------------------


def test_history_shows_old_and_new_values_and_secrets_only_as_changed(login, admin, tenant, configured):
    from taiji.modules.scm import services as scm

    scm.put_item(tenant, admin, configured, "dev", "db.password", value="next-" + SECRET, secret=True,
                 namespace="db")
    db.session.commit()
    for language in ("en", "zh_Hans"):
        client = login(admin)
        if language == "zh_Hans":
            chinese(client)
        page = html_of(client.get(f"{base(tenant)}/history"))
        assert SECRET not in page and 'data-testid="secret-changed"' in page
        assert page.count('data-testid="history-entry"') == 5
        assert "<code class=\"text-break\">8</code>" in page


def test_import_dry_run_then_import_and_export(login, admin, tenant, shop):
    from taiji.modules.scm import services as scm

    client = login(admin)
    text = '{"server.port": 8080, "name": "shop"}'
    form = {"namespace": "application", "format": "json", "text": text}
    dry = client.post(f"{base(tenant)}/import", data={**form, "dry_run": "y"})
    assert dry.status_code == 200 and 'data-testid="import-report"' in html_of(dry)
    assert "server.port" in html_of(dry)
    assert scm.draft(tenant, shop, "dev").namespaces == {}
    done = client.post(f"{base(tenant)}/import", data=form)
    assert done.status_code == 302
    assert "server.port" in scm.draft(tenant, shop, "dev").namespaces["application"]
    exported = client.get(f"{base(tenant)}/export?namespace=application&format=json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert "server.port" in html_of(exported)
    broken = client.post(f"{base(tenant)}/import", data={"namespace": "application", "format": "json",
                                                         "text": "{not json"})
    assert broken.status_code == 422 and 'data-testid="error-summary"' in html_of(broken)
    empty = client.post(f"{base(tenant)}/import", data={**form, "text": ""})
    assert empty.status_code == 422
    upload = {**form, "text": "", "file": (io.BytesIO(b'{"name": "uploaded"}'), "app.json")}
    uploaded = client.post(f"{base(tenant)}/import", data=upload, content_type="multipart/form-data")
    assert uploaded.status_code == 302
    assert scm.draft(tenant, shop, "dev").namespaces["application"]["name"].value == "uploaded"


def test_schema_is_validated_when_saved_and_shown(login, admin, tenant, shop):
    client = login(admin)
    url = f"{base(tenant)}/schema"
    assert 'data-testid="schema-none"' in html_of(client.get(url))
    not_json = client.post(url, data={"schema": "{oops"})
    assert not_json.status_code == 422 and 'id="schema-error"' in html_of(not_json)
    invalid = client.post(url, data={"schema": '{"type": "not-a-type"}'})
    assert (invalid.status_code == 422 and 'data-testid="error-summary"' in html_of(invalid)) \
        or 'data-testid="form-error"' in html_of(invalid)
    good = client.post(url, data={"schema": '{"type": "object", "required": ["port"]}'})
    assert good.status_code == 302
    assert 'data-testid="schema-declared"' in html_of(client.get(url))


# --- policies and access keys ---------------------------------------------------------------


def test_access_key_token_is_shown_once_then_revoked(login, admin, tenant):
    client = login(admin)
    url = f"/t/{tenant.slug}/config/-/keys"
    assert 'data-testid="empty-state"' in html_of(client.get(url))
    bad = client.post(url, data={"environment": "Bad Env", "description": "x"})
    assert bad.status_code == 422 and 'id="environment-error"' in html_of(bad)
    created = client.post(url, data={"environment": "dev", "description": "checkout pods"})
    token = re.search(r'data-testid="new-token">(tjc_[^<]+)<', html_of(created)).group(1)
    listing = html_of(client.get(url))
    assert token not in listing and "checkout pods" in listing
    assert re.search(r'data-testid="key-last-used">\s*Never', listing)
    key_id = re.search(r'data-key-id="(\d+)"', listing).group(1)
    assert client.post(f"{url}/{key_id}/revoke").status_code == 302
    assert 'data-testid="key-revoked"' in html_of(client.get(url))


def test_a_member_cannot_open_the_access_keys(login, tenant):
    client = login(make_member(tenant, "member"))
    assert client.get(f"/t/{tenant.slug}/config/-/keys").status_code == 403
    page = html_of(client.get(f"/t/{tenant.slug}/config/-/policies"))
    assert 'data-testid="policy-form"' not in page


@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_every_page_renders_with_data(login, admin, tenant, configured, language):
    client = login(admin)
    if language == "zh_Hans":
        chinese(client)
    publish(client, tenant, "for the pages")
    top = f"/t/{tenant.slug}/config"
    tabs = ("", "/diff", "/releases", "/instances", "/history", "/transfer", "/schema")
    pages = [top, f"{top}/-/policies", f"{top}/-/keys", f"{top}/checkout", f"{base(tenant)}/items/edit",
             *(f"{base(tenant)}{tab}" for tab in tabs),
             f"{base(tenant)}/items/edit?key=timeout&namespace=application&layer=environment"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        page = html_of(response)
        assert SECRET not in page, path
        assert ('lang="zh-CN"' in page) == (language == "zh_Hans")
    nav = html_of(client.get(f"/t/{tenant.slug}/config"))
    assert ("配置" if language == "zh_Hans" else "Configuration") in nav


def test_a_publish_that_breaks_the_schema_is_refused_with_its_errors(login, admin, tenant, configured):
    from taiji.modules.scm import services as scm

    scm.set_schema(tenant, admin, configured, {"type": "object", "required": ["port"],
                                               "properties": {"timeout": {"type": "integer", "maximum": 5}}})
    db.session.commit()
    client = login(admin)
    refused = client.post(f"{base(tenant)}/releases", data={"comment": "too slow", "gray": ""})
    assert refused.status_code == 422
    page = html_of(refused)
    assert 'data-testid="form-error"' in page or 'data-testid="error-summary"' in page
    assert "port" in page and "timeout" in page
    assert scm.current_release(tenant, configured, "dev") is None


def test_editing_a_secret_or_a_lower_layer(login, admin, tenant, configured):
    client = login(admin)
    secret = client.get(f"{base(tenant)}/items/edit?key=db.password&namespace=db&layer=environment")
    page = html_of(secret)
    assert secret.status_code == 200 and SECRET not in page and "is not shown" in page
    blank = client.post(f"{base(tenant)}/items?edit=1", data={
        "key": "db.password", "namespace": "db", "layer": "environment", "type": "string", "secret": "y",
        "value": ""})
    assert blank.status_code == 422 and 'id="value-error"' in html_of(blank)
    lower = client.get(f"{base(tenant)}/items/edit?key=timeout&namespace=application&layer=component")
    assert lower.status_code == 200 and re.search(r'name="value"[^>]*>\s*5</textarea>', html_of(lower))
    missing = client.get(f"{base(tenant)}/items/edit?key=nothing&namespace=application&layer=environment")
    assert missing.status_code == 404


def test_the_audit_log_names_layers_and_statuses_in_the_readers_words(login, admin, tenant, configured):
    from taiji.modules.scm import services as scm

    scm.publish(tenant, admin, configured, "dev", gray={"selector": "zone=bj"})
    db.session.commit()
    client = login(admin)
    page = html_of(client.get(f"/t/{tenant.slug}/audit"))
    english = re.findall(r'data-testid="audit-sentence">([^<]*)<', page)
    assert any(s.endswith("(tenant layer)") for s in english), english
    assert any(s.endswith("(environment layer)") for s in english)
    assert any(s.endswith("(gray)") for s in english)
    page = html_of(chinese(client).get(f"/t/{tenant.slug}/audit"))
    sentences = re.findall(r'data-testid="audit-sentence">([^<]*)<', page)
    assert any("环境 层" in s for s in sentences) and any("灰度中" in s for s in sentences), sentences
    assert not [s for s in sentences if "environment" in s or "gray" in s]
