"""The console speaks English and Simplified Chinese, for every string it shows."""

from __future__ import annotations

import datetime
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.factories import make_member, make_user

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "taiji" / "translations" / "zh_Hans" / "LC_MESSAGES"
# A module may keep its own catalogue beside its code (Module.translations): its strings are looked
# up there, then in the platform's (Flask-Babel merges the directories).
MODULE_CATALOGS = sorted(p.parent.parent for p in (ROOT / "taiji" / "modules").glob(
    "*/translations/zh_Hans/LC_MESSAGES"))


def _extracted_msgids() -> dict[tuple, str]:
    """(msgid, context) -> where it was found, extracted as `make i18n` does (babel.cfg)."""
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


def _read_po(folder: Path):
    with open(folder / "zh_Hans" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale="zh_Hans")


@pytest.fixture(scope="module")
def po_catalog():
    return _read_po(CATALOG.parent.parent)


def _catalogs() -> list[tuple[Path, object]]:
    return [(CATALOG.parent.parent, _read_po(CATALOG.parent.parent))] + [
        (folder, _read_po(folder)) for folder in MODULE_CATALOGS]


def test_every_extracted_string_has_a_chinese_translation(po_catalog):
    modules = {folder.parent.relative_to(ROOT).as_posix() + "/": _read_po(folder)
               for folder in MODULE_CATALOGS}
    problems = []
    extracted = sorted(_extracted_msgids().items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    for (msgid, context), where in extracted:
        own = next((catalog for prefix, catalog in modules.items() if where.startswith(prefix)), None)
        entry = own.get(msgid, context=context) if own is not None else None
        if entry is None or not entry.string:
            entry = po_catalog.get(msgid, context=context) or entry
        if context:
            msgid = f"{context}|{msgid}"
        if entry is None:
            problems.append(f"missing: {msgid!r} ({where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where})")
        elif not entry.string:
            problems.append(f"untranslated: {msgid!r} ({where})")
    assert not problems, "Run `make i18n` and translate:\n" + "\n".join(problems)


def test_compiled_catalogs_match_their_po_files():
    def forms(string) -> tuple:  # plural entries: a tuple in the .po reader, a list in the .mo reader
        return tuple(string) if isinstance(string, (list, tuple)) else (string,)

    for folder, catalog in _catalogs():
        with open(folder / "zh_Hans" / "LC_MESSAGES" / "messages.mo", "rb") as fh:
            compiled = read_mo(io.BytesIO(fh.read()))

        def compiled_form(m, compiled=compiled):
            entry = compiled.get(m.id, m.context)
            return None if entry is None else forms(entry.string)

        stale = [m.id for m in catalog if m.id and m.string and compiled_form(m) != forms(m.string)]
        assert not stale, f"{folder}: messages.mo is older than messages.po; run `make i18n`: {stale[:5]}"


def test_placeholders_survive_translation():
    names = re.compile(r"%\((\w+)\)[sd]")

    def used(text) -> set[str]:
        return {name for part in ((text,) if isinstance(text, str) else text) for name in names.findall(part)}

    for folder, catalog in _catalogs():
        broken = [m.id for m in catalog if m.id and m.string and used(m.id) != used(m.string)]
        assert not broken, f"{folder}: {broken[:5]}"


def test_page_for_a_chinese_speaking_user_is_in_chinese(login, client, tenant):
    member = make_member(tenant, "owner")
    login(member)
    client.post("/locale", data={"locale": "zh_Hans"})
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in body
    for text in ("概览", "成员", "审计日志", "配额", "退出登录"):
        assert text in body
    assert "Quotas" not in body


def test_dates_and_numbers_follow_the_locale(login, client, tenant, app):
    from flask_babel import force_locale

    member = make_member(tenant, "owner")
    login(member)
    client.post("/locale", data={"locale": "zh_Hans"})
    body = client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    # One date format, its zone shown; in a table cell its date and time each kept whole (a phone's
    # narrow column wraps it onto two lines, not one piece a line).
    assert re.search(r'<td><span class="text-nowrap">\d{4}-\d\d-\d\d</span> '
                     r'<span class="text-nowrap">\d\d:\d\d UTC</span></td>', body)
    assert '<span class="badge">所有者</span>' in body  # the member's role, as a word
    with app.test_request_context(), force_locale("zh_Hans"):
        assert app.jinja_env.filters["number"](1234567) == "1,234,567"
    moment = datetime.datetime(2026, 12, 6, 11, 30, 59)
    for locale in ("en", "zh_Hans"):
        with app.test_request_context(), force_locale(locale):
            assert app.jinja_env.filters["datetime"](moment) == "2026-12-06 11:30 UTC"
            assert app.jinja_env.filters["date"](moment) == "2026-12-06"  # the same format, its date only
            # A timeline's time to the millisecond, in the same zone and saying so.
            assert app.jinja_env.filters["clock"](moment.replace(microsecond=42_000)) == "11:30:59.042 UTC"
            assert app.jinja_env.filters["datetime"](None) == ""
            assert str(app.jinja_env.filters["datetime_cell"](moment)) == (
                '<span class="text-nowrap">2026-12-06</span> <span class="text-nowrap">11:30 UTC</span>')


@pytest.mark.parametrize(("size", "english", "chinese"), [
    (0, "0 B", "0 B"), (980, "980 B", "980 B"), (1536, "1.5 KiB", "1.5 KiB"),
    (int(1.5 * 1024**2), "1.5 MiB", "1.5 MiB"), (5 * 1024**3, "5 GiB", "5 GiB"),
    (1234 * 1024**5, "1,234 PiB", "1,234 PiB"), (None, "", ""),
])
def test_byte_sizes_read_for_people(app, size, english, chinese):
    from flask_babel import force_locale

    for locale, expected in (("en", english), ("zh_Hans", chinese)):
        with app.test_request_context(), force_locale(locale):
            assert app.jinja_env.filters["bytes"](size) == expected
    with app.test_request_context(), force_locale("de"):  # digits follow the reader's locale
        assert app.jinja_env.filters["bytes"](1536) == "1,5 KiB"


@pytest.mark.parametrize(("seconds", "english", "chinese"), [
    (0, "0 s", "0 秒"), (12.34, "12.3 s", "12.3 秒"), (59.97, "1 min", "1 分钟"),
    (125, "2 min 5 s", "2 分钟 5 秒"),
    (1800, "30 min", "30 分钟"), (3600, "1 h", "1 小时"), (5400, "1 h 30 min", "1 小时 30 分钟"),
    (5431.5, "1 h 30 min", "1 小时 30 分钟"), (86400, "24 h", "24 小时"), (None, "", ""),
])
def test_durations_read_for_people(app, seconds, english, chinese):
    from flask_babel import force_locale

    for locale, expected in (("en", english), ("zh_Hans", chinese)):
        with app.test_request_context(), force_locale(locale):
            assert app.jinja_env.filters["duration"](seconds) == expected
            # A quota's amount in its unit's words.
            assert app.jinja_env.filters["amount"](seconds, "seconds") == expected
    with app.test_request_context():
        assert app.jinja_env.filters["amount"](1536, "bytes") == "1.5 KiB"
        assert app.jinja_env.filters["amount"](1800, "count") == "1,800"


def test_form_validation_messages_are_translated(login, client):
    login(make_user())
    client.post("/locale", data={"locale": "zh_Hans"})
    body = client.post("/profile", data={"name": ""}).get_data(as_text=True)
    assert "该字段是必填字段" in body


def test_anonymous_browser_asking_for_chinese_gets_chinese(client):
    body = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert "登录 Taiji" in body


def test_anonymous_default_is_english(client):
    assert "Sign in to Taiji" in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_translated_text_with_angle_brackets_is_shown_not_parsed(login, client, locale):
    login(make_user())
    client.post("/locale", data={"locale": locale})
    body = client.post("/profile/tokens", data={"name": "laptop"}).get_data(as_text=True)
    assert "Authorization: Bearer &lt;token&gt;" in body
    assert "<token>" not in body


def test_template_translations_escape_text_and_values_but_not_plain_text(app):
    from flask import render_template_string

    with app.test_request_context():
        html = render_template_string(
            "{{ _('Use <b>%(x)s</b>', x=v) }}|{{ ngettext('%(num)s <a>', '%(num)s <as>', 2) }}", v="<i>")
        assert html == "Use &lt;b&gt;&lt;i&gt;&lt;/b&gt;|2 &lt;as&gt;"
        plain = app.jinja_env.from_string(
            "{% autoescape false %}{{ _('a <b> %(x)s', x='<i>') }}{% endautoescape %}")
        assert plain.render() == "a <b> <i>"


def test_label_filter_shows_registered_words_and_unknown_values_as_they_are(app):
    from flask_babel import force_locale
    from flask_babel import lazy_gettext as _l

    from taiji.platform.web.text import register_labels

    register_labels(app, "test.colour", {"red": _l("Error")})
    label = app.jinja_env.filters["label"]
    with app.test_request_context(), force_locale("zh_Hans"):
        assert label("red", "test.colour") == "错误"
        assert label("blue", "test.colour") == "blue"
        assert label(None, "test.colour") == ""
        assert label("red", "test.unknown") == "red"


def test_a_quota_refusal_in_the_console_words_its_amounts(app):
    from flask_babel import force_locale

    from taiji.platform.quotas import Meter, QuotaExceeded
    from taiji.platform.web.messages import quota_problem

    storage = Meter("zz.storage", "Storage", 5 * 1024**3, lambda tenant: 0, unit="bytes")
    job_time = Meter("zz.job_time", "Longest run", 1800, lambda tenant: 0, unit="seconds")
    with app.test_request_context(), force_locale("en"):
        assert "(5 GiB of 5 GiB)" in quota_problem(QuotaExceeded(storage, 5 * 1024**3, 5 * 1024**3, 1))
        assert "(30 min of 30 min)" in quota_problem(QuotaExceeded(job_time, 1800, 1800, 60))
