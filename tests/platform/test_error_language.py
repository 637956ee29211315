# ruff: noqa: RUF001 - the Chinese sentences are written with their full-width punctuation
"""Service errors speak the reader's language: the console's user's, the API's Accept-Language.

Messages are marked with ``taiji.platform.errors.msg`` and named placeholders; every one has a
Chinese translation, parameters (user data) stay literal and are shown escaped, and outside a
request (CLI, tasks) a message reads in English.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import quote

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo

from taiji.platform import quotas
from taiji.platform.db import db
from taiji.platform.errors import Conflict, Invalid, NotFound, field_error, msg
from tests.factories import make_member

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "taiji" / "translations" / "zh_Hans" / "LC_MESSAGES"
HOSTILE = "<img src=x onerror=alert(1)>%(x)s 100%"
IN_URL = quote(HOSTILE, safe="")


def _chinese(client):
    client.post("/locale", data={"locale": "zh_Hans"})
    return client


# --- the console ---------------------------------------------------------------------------


def test_a_refusal_on_a_form_reads_in_the_users_language(login, tenant):
    chinese, english = make_member(tenant, "owner"), make_member(tenant, "owner")
    form = {"slug": "shop", "name": "Shop", "lifecycle": "experimental"}
    client = login(english)
    assert client.post(f"/t/{tenant.slug}/products", data=form).status_code == 302
    # The refusal names its field, so the console shows the field's message under it.
    body = client.post(f"/t/{tenant.slug}/products", data=form).get_data(as_text=True)
    assert '<div class="invalid-feedback">Already taken.</div>' in body

    client = _chinese(login(chinese))
    body = client.post(f"/t/{tenant.slug}/products", data=form).get_data(as_text=True)
    assert '<div class="invalid-feedback">已被占用。</div>' in body
    assert "Already taken" not in body


def test_a_not_found_page_reads_in_the_users_language(login, tenant):
    client = _chinese(login(make_member(tenant, "viewer")))
    response = client.get(f"/t/{tenant.slug}/products/nothing-here")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "此租户中没有产品“nothing-here”。" in body
    assert "No product" not in body

    client.post("/locale", data={"locale": "en"})
    body = client.get(f"/t/{tenant.slug}/products/nothing-here").get_data(as_text=True)
    assert "No product &#39;nothing-here&#39; in this tenant." in body


def test_a_quota_refusal_reads_in_the_users_language(login, tenant):
    quotas.set_limit(tenant, "products", 0)
    db.session.commit()
    form = {"slug": "shop", "name": "Shop", "lifecycle": "experimental"}
    client = _chinese(login(make_member(tenant, "owner")))
    response = client.post(f"/t/{tenant.slug}/products", data=form)
    assert response.status_code in (409, 422)
    body = response.get_data(as_text=True)
    assert "配额" in body
    assert "Quota &#39;" not in body and "exceeded" not in body


def test_a_parameter_is_shown_escaped_and_literally(login, tenant):
    client = _chinese(login(make_member(tenant, "viewer")))
    body = client.get(f"/t/{tenant.slug}/products/{IN_URL}").get_data(as_text=True)
    assert "<img src=x" not in body
    assert "“&lt;img src=x onerror=alert(1)&gt;%(x)s 100%”" in body
    assert "此租户中没有产品" in body


# --- the console pages that word some refusals themselves (console.refusals) ---------------------


def _system():
    from tests.factories import system_principal

    return system_principal()


def _body(response) -> str:
    return response.get_data(as_text=True)


def test_an_invitation_over_the_member_quota_says_so_in_chinese_under_the_address(login, tenant):
    owner = make_member(tenant, "owner")
    quotas.set_limit(tenant, "members", 0)
    db.session.commit()
    client = _chinese(login(owner))
    response = client.post(f"/t/{tenant.slug}/invitations", data={"email": "new@example.com",
                                                                   "role": "member"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">此租户的“' in _body(response) and "配额已用完" in _body(response)


def test_withdrawing_a_spent_invitation_says_why_in_chinese(login, tenant):
    from taiji.modules.tm import services as tm

    invitation, _token = tm.invite(tenant, "gone@example.com", "member", actor=_system())
    tm.revoke_invitation(tenant, invitation.id)
    db.session.commit()
    client = _chinese(login(make_member(tenant, "owner")))
    response = client.post(f"/t/{tenant.slug}/invitations/{invitation.id}/revoke", follow_redirects=True)
    assert "只能撤回待处理的邀请。" in _body(response)
    # An invitation that does not exist is the 404 page, in Chinese too.
    missing = client.post(f"/t/{tenant.slug}/invitations/999999/revoke")
    assert missing.status_code == 404 and "没有邀请 999999。" in _body(missing)


def test_answering_ones_own_invitation_refused_in_chinese(login, tenant):
    from taiji.modules.tm import services as tm
    from tests.factories import make_user

    invitee = make_user(email_verified=False)
    invitation, _token = tm.invite(tenant, invitee.email, "member", actor=_system())
    db.session.commit()
    client = _chinese(login(invitee))
    response = client.post(f"/invitations/{invitation.id}/accept", follow_redirects=True)
    assert "请先验证你的邮箱地址，再接受此邀请。" in _body(response)
    # Someone else's (here: nobody's) invitation is unknown: the 404 page, in the reader's language.
    missing = client.post("/invitations/999999/decline")
    assert missing.status_code == 404 and "没有发给你的邀请 999999。" in _body(missing)


def test_registering_through_an_invitation_with_a_weak_password_in_chinese(client, tenant):
    from taiji.modules.tm import services as tm

    _invitation, token = tm.invite(tenant, "weak@example.com", "member", actor=_system())
    db.session.commit()
    client.post("/locale", data={"locale": "zh_Hans"})
    response = client.post(f"/invitations/{token}", data={"name": "Weak", "password": "aaaaaaaaaa"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">此密码太容易被猜到，请混合使用更多种类的字符。</div>' \
        in _body(response)


def test_a_reserved_tenant_slug_is_refused_in_chinese(login, admin):
    client = _chinese(login(admin))
    response = client.post("/admin/tenants", data={"slug": "admin", "name": "Admin"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">该标识为系统保留，请换一个。</div>' in _body(response)


def test_asking_for_a_verification_mail_without_a_mail_server_in_chinese(login):
    from tests.factories import make_user

    client = _chinese(login(make_user(email_verified=False)))
    response = client.post("/profile/email/verification", follow_redirects=True)
    assert "此服务器不发送邮件，因此需要平台管理员验证你的邮箱地址。" in _body(response)


def test_a_spent_verification_link_says_why_in_chinese(login):
    from tests.factories import make_user

    client = _chinese(login(make_user(email_verified=False)))
    response = client.get("/profile/email/verify/not-a-link")
    assert response.status_code == 404
    assert "此链接已失效：它已被使用过，或已过期。请在个人资料页面申请新的链接。" in _body(response)


def test_a_token_expiring_in_the_past_is_refused_in_chinese(login):
    from tests.factories import make_user

    client = _chinese(login(make_user()))
    response = client.post("/profile/tokens", data={"name": "old", "expires_on": "2000-01-01"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">请选择一个将来的日期。</div>' in _body(response)


def test_a_second_user_with_the_same_email_is_refused_in_chinese(login, admin):
    client = _chinese(login(admin))
    response = client.post("/admin/users", data={"email": admin.email, "name": "Twin",
                                                  "password": "a-long-Unusual-passphrase-42"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">使用该邮箱的用户已存在。</div>' in _body(response)


def test_a_wrong_second_factor_code_is_refused_in_chinese(login):
    from tests.factories import make_user

    client = _chinese(login(make_user()))
    assert client.get("/profile/mfa").status_code == 200  # the proposed secret waits in the session
    response = client.post("/profile/mfa/enable", data={"code": "000000"})
    assert response.status_code == 422
    assert "验证码不匹配；请检查设备上的时间后重试。" in _body(response)


def test_an_oauth_client_with_an_unknown_scope_is_refused_in_chinese_under_the_scope(login, admin):
    client = _chinese(login(admin))
    response = client.post("/admin/clients", data={
        "name": "Grafana", "redirect_uris": "https://grafana.example.com/cb", "scope": "openid nope",
        "grant_authorization_code": "on"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">未知的权限范围：nope。</div>' in _body(response)


def test_a_malformed_email_domain_is_refused_in_chinese(login, tenant):
    client = _chinese(login(make_member(tenant, "owner")))
    response = client.post(f"/t/{tenant.slug}/settings/directory/domains", data={"domain": "not a domain"})
    assert response.status_code == 422
    assert "请输入域名，例如 example.com" in _body(response)


def test_a_directory_setting_is_refused_in_chinese_under_its_field(login, tenant):
    client = _chinese(login(make_member(tenant, "owner")))
    response = client.post(f"/t/{tenant.slug}/settings/directory", data={
        "url": "ldaps://ldap.example.com", "user_base": "dc=example,dc=com",
        "user_filter": "objectClass=person"})
    assert response.status_code == 422
    assert '<div class="invalid-feedback">LDAP 过滤器须写在括号中，例如 (objectClass=person)。</div>' \
        in _body(response)


def test_a_pipeline_file_error_shows_in_the_readers_language(login, api_as, tenant):
    """The parser says what is wrong and how to fix it, with the line; the pipeline keeps the words
    as messages, so each reader sees them in their language (the stored ``error`` stays English)."""
    from taiji.modules.cicd import services as cicd

    text = "jobs:\n  build:\n    script:\n      - echo a: b\n"
    pipeline = cicd.create_pipeline(tenant, "shop", ref="refs/heads/main", sha="ab" * 20, text=text)
    db.session.commit()
    english = (".taiji.yml: line 4: this script line contains ': ', so YAML read it as a mapping; "
               "quote the line")
    chinese = ".taiji.yml: 第 4 行: 这行脚本包含“: ”，YAML 把它读成了映射；请给整行加上引号"
    assert pipeline.status == "error" and pipeline.error == english  # logs, events and the CLI
    owner = make_member(tenant, "owner")
    html = _chinese(login(owner)).get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert chinese in html and "YAML read it" not in html
    api, path = api_as(owner), f"/api/v1/tenants/{tenant.slug}/pipelines/{pipeline.id}"
    assert api.get(path).json["error"] == english
    assert api.get(path, headers={"Accept-Language": "zh-CN"}).json["error"] == chinese


def test_a_yaml_syntax_error_is_worded_with_what_to_do(app):
    from taiji.modules.cicd import pipeline_file

    result = pipeline_file.parse("jobs:\n  a:\n    script: echo a: b\n")
    assert result.message == (".taiji.yml: line 3, column 19: a ': ' inside a plain value makes YAML read a "
                              "mapping here; quote the value")
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert result.text == (".taiji.yml: 第 3 行，第 19 列: 未加引号的值中含有“: ”，"
                               "YAML 在这里把它读成了映射；请给这个值加上引号")
        # What a pipeline stores stays English, whatever the request's language.
        assert result.message.startswith(".taiji.yml: line 3, column 19: a ': '")


# --- the API -------------------------------------------------------------------------------


def test_the_api_answers_in_the_accept_language_else_english(api_as, tenant):
    user = make_member(tenant, "owner")
    api = api_as(user)
    path = f"/api/v1/tenants/{tenant.slug}/products/nothing-here"

    english = api.get(path)
    assert english.status_code == 404
    assert english.json["detail"] == "No product 'nothing-here' in this tenant."

    chinese = api.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert chinese.status_code == 404
    assert chinese.json["detail"] == "此租户中没有产品“nothing-here”。"
    assert chinese.json["title"] == "未找到"  # the title names the kind of problem, in the same language
    assert english.json["title"] == "Not Found"

    assert api.get(path, headers={"Accept-Language": "fr"}).json["detail"].startswith("No product")


def test_the_api_ignores_the_console_preference(api_as, login, tenant):
    user = make_member(tenant, "owner")
    _chinese(login(user))
    detail = api_as(user).get(f"/api/v1/tenants/{tenant.slug}/products/nothing-here").json["detail"]
    assert detail == "No product 'nothing-here' in this tenant."


def test_field_errors_are_translated_too(api_as, tenant):
    api = api_as(make_member(tenant, "owner"))
    path, product = f"/api/v1/tenants/{tenant.slug}/products", {"slug": "shop", "name": "Shop"}
    assert api.post(path, json=product).status_code == 201
    answer = api.post(path, json=product, headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 409
    assert answer.json["detail"] == "产品“shop”已存在。"
    assert answer.json["errors"] == {"json": {"slug": ["已被占用。"]}}


def test_an_api_parameter_stays_literal(api_as, tenant):
    api = api_as(make_member(tenant, "owner"))
    answer = api.get(f"/api/v1/tenants/{tenant.slug}/products/{IN_URL}", headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 404
    assert answer.json["detail"] == f"此租户中没有产品“{HOSTILE}”。"


def test_a_protocol_client_with_a_token_gets_english_whatever_its_owners_preference(client, login, tenant):
    import base64

    from taiji.modules.bpr import services as bpr
    from tests.factories import make_token

    bpr.create_repository(tenant, {"name": "files", "kind": "generic"})
    db.session.commit()
    user = make_member(tenant, "owner")
    _chinese(login(user))
    basic = {"Authorization": "Basic " + base64.b64encode(f"__token__:{make_token(user)}".encode()).decode()}
    path = f"/bpr/{tenant.slug}/files/nothing.txt"
    english = client.get(path, headers=basic)
    assert english.status_code == 404
    assert english.json["detail"] == "No file 'nothing.txt' in 'files'."
    chinese = client.get(path, headers={**basic, "Accept-Language": "zh-CN"})
    assert chinese.json["detail"] == "“files”中没有文件“nothing.txt”。"


def test_problem_titles_follow_the_accept_language(api_as, tenant):
    api = api_as(make_member(tenant, "owner"))
    path = f"/api/v1/tenants/{tenant.slug}/products"
    assert api.post(path, json={"slug": "shop", "name": "Shop"}).status_code == 201
    taken = api.post(path, json={"slug": "shop", "name": "Shop"}, headers={"Accept-Language": "zh-CN"})
    assert (taken.status_code, taken.json["title"]) == (409, "冲突")
    invalid = api.post(path, json={"slug": 5}, headers={"Accept-Language": "zh-CN"})
    assert invalid.status_code == 422 and invalid.json["title"] == "无法处理的内容"
    assert invalid.json["detail"] == "请求中有无效的字段；详见 errors。"
    assert api.post(path, json={"slug": 5}).json["title"] == "Unprocessable Entity"


def test_a_quota_problem_title_is_translated_too(api_as, tenant):
    api = api_as(make_member(tenant, "owner"))
    quotas.set_limit(tenant, "products", 0)
    db.session.commit()
    answer = api.post(f"/api/v1/tenants/{tenant.slug}/products", json={"slug": "shop", "name": "Shop"},
                      headers={"Accept-Language": "zh-CN"})
    assert (answer.status_code, answer.json["title"]) == (409, "超出配额")


def test_protocol_refusals_read_in_the_accept_language(client, tenant):
    """git and the package protocols refuse in words too: the kernel's and each protocol's own."""
    import base64

    from taiji.modules.bpr import services as bpr

    bpr.create_repository(tenant, {"name": "files", "kind": "generic"})
    db.session.commit()
    bad = {"Authorization": "Basic " + base64.b64encode(b"__token__:tj_pat_nonsense").decode()}
    path = f"/bpr/{tenant.slug}/files/x.txt"
    english = client.get(path, headers=bad)
    assert english.status_code == 401
    assert english.json["detail"] == "The token is not valid (use a personal access token as the password)."
    chinese = client.get(path, headers={**bad, "Accept-Language": "zh-CN"})
    assert chinese.status_code == 401
    assert chinese.json["detail"] == "令牌无效（请以个人访问令牌作为密码）。"
    assert chinese.json["title"] == "未认证"
    from tests.factories import make_token

    member = {"Authorization": "Basic " + base64.b64encode(
        f"__token__:{make_token(make_member(tenant, 'viewer'))}".encode()).decode()}
    missing = client.get(f"/bpr/{tenant.slug}/nothing/x.txt", headers={**member, "Accept-Language": "zh-CN"})
    assert missing.status_code == 404
    assert missing.json["detail"] == f"租户“{tenant.slug}”中没有仓库“nothing”。"

    git = client.get(f"/git/{tenant.slug}/nothing.git/info/refs", query_string={"service": "git-upload-pack"},
                     headers={"Accept-Language": "zh-CN"})
    assert git.status_code == 401
    assert git.get_data(as_text=True).strip() == "需要认证：请以个人访问令牌作为密码。"


# --- the kernel ----------------------------------------------------------------------------


def test_outside_a_request_a_message_reads_in_english(app):
    error = NotFound(msg("No product '%(slug)s' in this tenant.", slug="shop"))
    assert str(error) == error.detail == error.english == "No product 'shop' in this tenant."
    with app.app_context():
        assert error.detail == "No product 'shop' in this tenant."


def test_in_a_chinese_request_a_message_reads_in_chinese_and_english_stays_at_hand(app):
    error = field_error("slug", msg("No product '%(slug)s' in this tenant.", slug=HOSTILE))
    with app.test_request_context("/login", headers={"Accept-Language": "zh-CN"}):
        assert error.detail == f"此租户中没有产品“{HOSTILE}”。"
        assert error.errors == {"json": {"slug": [f"此租户中没有产品“{HOSTILE}”。"]}}
        assert error.english == f"No product '{HOSTILE}' in this tenant."


def test_a_message_is_plain_text_never_markup():
    message = msg("No product '%(slug)s' in this tenant.", slug=HOSTILE)
    assert not hasattr(message, "__html__")
    assert not hasattr(NotFound(message).detail, "__html__")
    assert str(msg("100% sure")) == "100% sure"  # without parameters nothing is formatted


def test_an_error_built_from_a_plain_string_still_works():
    error = Conflict("Plain.", errors={"json": {"x": ["Bad."]}})
    assert (str(error), error.detail, error.english, error.errors) == (
        "Plain.", "Plain.", "Plain.", {"json": {"x": ["Bad."]}})


def test_errors_survive_pickling():
    import pickle

    data = pickle.dumps(Invalid(msg("Use at most %(limit)s characters.", limit=5)))
    error = pickle.loads(data)  # noqa: S301 - bytes this test made
    assert error.detail == "Use at most 5 characters."


# --- the catalogue -------------------------------------------------------------------------


def _error_msgids() -> dict[str, str]:
    """Every msgid marked with ``msg`` under taiji/, extracted with babel.cfg's own settings."""
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    python_only = [(pattern, method) for pattern, method in method_map if method == "python"]
    options = {pattern: {**opts, "keywords": {"msg": None}} for pattern, opts in options_map.items()}
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), python_only, options, keywords={}
    ):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def test_babel_cfg_extracts_the_error_messages():
    with open(ROOT / "babel.cfg") as fh:
        _, options_map = parse_mapping_cfg(fh)
    assert any("msg" in (opts.get("keywords") or {}) for opts in options_map.values())
    found = _error_msgids()
    assert "No product '%(slug)s' in this tenant." in found
    assert len(found) > 300


def test_every_error_message_has_a_chinese_translation():
    with open(CATALOG / "messages.mo", "rb") as fh:
        compiled = read_mo(fh)
    # A module's own catalogue (taiji/modules/<code>/translations) serves the strings of its folder.
    own = {}
    for mo in (ROOT / "taiji" / "modules").glob("*/translations/zh_Hans/LC_MESSAGES/messages.mo"):
        with open(mo, "rb") as fh:
            own[mo.parents[3].relative_to(ROOT).as_posix() + "/"] = read_mo(fh)

    def translated(msgid, where) -> bool:
        catalogs = [c for prefix, c in own.items() if where.startswith(prefix)] + [compiled]
        return any(c.get(msgid) is not None and c.get(msgid).string for c in catalogs)

    missing = [f"{msgid!r} ({where})" for msgid, where in sorted(_error_msgids().items())
               if not translated(msgid, where)]
    assert not missing, "Translate in messages.po and run pybabel compile:\n" + "\n".join(missing)


ERROR_CLASSES = {"ServiceError", "NotFound", "Conflict", "Invalid", "Forbidden"}


def _is_literal(node) -> bool:
    """A sentence written in place: a literal, or one that starts with a literal and goes on with +
    (an f-string is counted apart)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_literal(node.left)
    if isinstance(node, ast.IfExp):
        return _is_literal(node.body) or _is_literal(node.orelse)
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _name(node) -> str | None:
    return getattr(node, "id", getattr(node, "attr", None))


def _error_classes(tree: ast.Module) -> set[str]:
    """The service error classes a module knows: the kernel's and its own subclasses."""
    names = set(ERROR_CLASSES)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_name(b) in names for b in node.bases):
            names.add(node.name)
    return names


@pytest.mark.parametrize("kind", ["f-string", "literal"])
def test_no_service_error_is_written_without_msg(kind):
    """An f-string cannot be translated, a bare literal is not extracted: both are refused."""
    offenders = []
    for path in sorted((ROOT / "taiji").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        classes = _error_classes(tree)
        # super().__init__(...) inside a service error class builds its message too
        supers = {id(node) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef) and cls.name in classes
                  for node in ast.walk(cls) if isinstance(node, ast.Call) and _name(node.func) == "__init__"
                  and isinstance(node.func.value, ast.Call) and _name(node.func.value.func) == "super"}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if (name in classes or id(node) in supers) and node.args:
                texts = [node.args[0]]
            elif name == "field_error" and len(node.args) > 1:
                texts = [node.args[1]]
            else:
                continue
            texts += [e for kw in node.keywords if kw.arg == "errors" for sub in ast.walk(kw.value)
                      if isinstance(sub, ast.List) for e in sub.elts]
            for text in texts:
                bad = (isinstance(text, ast.JoinedStr) if kind == "f-string" else _is_literal(text))
                if bad:
                    offenders.append(f"{path.relative_to(ROOT)}:{text.lineno}")
    assert not offenders, "Mark these with taiji.platform.errors.msg:\n" + "\n".join(offenders)
