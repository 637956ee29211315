"""SCM's refusals read in Chinese for an API caller asking for it (the module's own catalogue)."""

from __future__ import annotations


def test_errors_are_translated(api_as, member, base, shop):
    api = api_as(member)
    headers = {"Accept-Language": "zh-Hans"}
    missing = api.put(f"{base}/nope/dev/items/k", json={"value": "x"}, headers=headers)
    assert missing.status_code == 404 and missing.json["detail"] == "本租户没有组件“nope”。"
    bad = api.put(f"{base}/api/dev/items/k", json={"value": "x", "type": "int"}, headers=headers)
    assert bad.json["errors"]["json"]["value"] == ["int 类型的值须是整数。"]
