"""Versions: release pins the product, refusal on errors, immutability, compare, SBOM."""

from __future__ import annotations

import json

import sqlalchemy as sa

from taiji.modules.spm import services
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent
from tests.factories import make_member


def _shop(catalog):
    catalog.product("shop", owners=["team-shop"])
    catalog.product("platform")
    catalog.component("shop", "web", layer="access", kind="frontend", version="2.0.0")
    catalog.component("shop", "orders", layer="business-logic", version="1.4.0")
    catalog.component("platform", "auth", layer="common-service", version="3.1.0")
    catalog.depend("shop", "web", "orders", "^1.4")
    catalog.depend("shop", "orders", "platform/auth", ">=3,<4")
    catalog.third_party(
        "shop", "orders", "flask", version_range=">=3.1", license="BSD-3-Clause", purl="pkg:pypi/flask@3.1.0"
    )
    catalog.third_party(
        "shop", "web", "react", version_range="^18", license="MIT", purl="pkg:npm/react@18.3.1"
    )


def _cut(catalog, version, product="shop"):
    response = catalog.api.post(f"{catalog.base}/products/{product}/versions", json={"version": version})
    assert response.status_code == 201, response.json
    return response.json


def _release(catalog, version, product="shop"):
    return catalog.api.post(f"{catalog.base}/products/{product}/versions/{version}/release")


def test_release_pins_components_and_dependencies(catalog):
    _shop(catalog)
    _cut(catalog, "1.0.0")
    response = _release(catalog, "1.0.0")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "released"
    contents = response.json["contents"]
    assert {c["name"]: c["version"] for c in contents["components"]} == {"web": "2.0.0", "orders": "1.4.0"}
    assert {(d["source"], d["target"], d["target_version"]) for d in contents["dependencies"]} == {
        ("web", "shop/orders", "1.4.0"),
        ("orders", "platform/auth", "3.1.0"),
    }
    event = db.session.execute(
        sa.select(OutboxEvent).where(OutboxEvent.name == "spm.version.released")
    ).scalar_one()
    assert event.payload["components"] == {"web": "2.0.0", "orders": "1.4.0"}
    # The working copy moves on; the released version does not.
    url = f"{catalog.base}/products/shop/components/orders"
    catalog.api.patch(
        url, json={"version": "1.5.0"}, headers={"If-Match": catalog.api.get(url).headers["ETag"]}
    )
    again = catalog.api.get(f"{catalog.base}/products/shop/versions/1.0.0").json["contents"]
    assert {c["name"]: c["version"] for c in again["components"]}["orders"] == "1.4.0"


def test_released_version_is_immutable(catalog):
    _shop(catalog)
    _cut(catalog, "1.0.0")
    _release(catalog, "1.0.0")
    url = f"{catalog.base}/products/shop/versions/1.0.0"
    etag = catalog.api.get(url).headers["ETag"]
    response = catalog.api.patch(url, json={"notes": "changed"}, headers={"If-Match": etag})
    assert response.status_code == 409
    assert "Cut a new version (for instance 1.0.1)" in response.json["detail"]
    assert catalog.api.delete(url, headers={"If-Match": etag}).status_code == 409
    assert _release(catalog, "1.0.0").status_code == 409
    assert catalog.api.get(url).json["notes"] == ""


def test_draft_notes_can_change(catalog):
    _shop(catalog)
    _cut(catalog, "1.1.0-rc.1")
    url = f"{catalog.base}/products/shop/versions/1.1.0-rc.1"
    response = catalog.api.patch(
        url, json={"notes": "first candidate"}, headers={"If-Match": catalog.api.get(url).headers["ETag"]}
    )
    assert response.status_code == 200
    assert response.json["notes"] == "first candidate"


def test_release_with_error_violations_is_refused_with_the_list(catalog):
    _shop(catalog)
    catalog.component("shop", "storage", layer="base")
    catalog.depend("shop", "storage", "web")
    _cut(catalog, "1.0.0")
    response = _release(catalog, "1.0.0")
    assert response.status_code == 409
    [violation] = response.json["errors"]["violations"]
    assert violation["rule"] == "upward-dependency"
    assert violation["components"] == ["shop/storage", "shop/web"]
    assert catalog.api.get(f"{catalog.base}/products/shop/versions/1.0.0").json["status"] == "draft"


def test_warnings_do_not_block_a_release(catalog):
    _shop(catalog)
    catalog.component("shop", "pricing", layer="business-logic")
    catalog.depend("shop", "orders", "pricing")
    _cut(catalog, "1.0.0")
    assert _release(catalog, "1.0.0").status_code == 200


def test_bad_version_is_422_and_duplicates_409(catalog):
    _shop(catalog)
    url = f"{catalog.base}/products/shop/versions"
    response = catalog.api.post(url, json={"version": "v1"})
    assert response.status_code == 422
    assert "semantic version" in response.json["errors"]["json"]["version"][0]
    _cut(catalog, "1.0.0")
    assert catalog.api.post(url, json={"version": "1.0.0"}).status_code == 409
    assert [v["version"] for v in catalog.api.get(url).json] == ["1.0.0"]


def test_viewer_cannot_release(api_as, catalog, tenant):
    _shop(catalog)
    _cut(catalog, "1.0.0")
    viewer = api_as(make_member(tenant, "viewer"))
    assert viewer.post(f"{catalog.base}/products/shop/versions/1.0.0/release").status_code == 403
    assert viewer.get(f"{catalog.base}/products/shop/versions/1.0.0").json["status"] == "draft"


def test_lifecycle_moves_forward_only(catalog):
    _shop(catalog)
    _cut(catalog, "1.0.0")
    base = f"{catalog.base}/products/shop/versions/1.0.0"
    assert catalog.api.post(f"{base}/deprecate").status_code == 409  # still a draft
    _release(catalog, "1.0.0")
    assert catalog.api.post(f"{base}/deprecate").json["status"] == "deprecated"
    assert catalog.api.post(f"{base}/deprecate").status_code == 409
    assert catalog.api.post(f"{base}/retire").json["status"] == "retired"


def test_versions_list_newest_first(catalog):
    _shop(catalog)
    for version in ["1.0.0", "1.10.0", "1.2.0", "1.10.0-rc.1"]:
        _cut(catalog, version)
    listed = catalog.api.get(f"{catalog.base}/products/shop/versions").json
    assert [v["version"] for v in listed] == ["1.10.0", "1.10.0-rc.1", "1.2.0", "1.0.0"]


def test_compare_two_versions(catalog):
    _shop(catalog)
    _cut(catalog, "1.0.0")
    _release(catalog, "1.0.0")
    catalog.component("shop", "search", layer="business-logic")
    url = f"{catalog.base}/products/shop/components/orders"
    catalog.api.patch(
        url, json={"version": "1.5.0"}, headers={"If-Match": catalog.api.get(url).headers["ETag"]}
    )
    catalog.depend("shop", "web", "search")
    _cut(catalog, "1.1.0")
    diff = catalog.api.get(f"{catalog.base}/products/shop/versions/1.0.0/compare/1.1.0").json
    assert diff["components"]["added"] == ["search"]
    assert diff["components"]["removed"] == []
    assert diff["components"]["changed"] == [
        {"key": "orders", "changes": {"version": {"from": "1.4.0", "to": "1.5.0"}}}
    ]
    assert diff["dependencies"]["added"] == ["web -> shop/search"]
    changed_deps = {c["key"] for c in diff["dependencies"]["changed"]}
    assert changed_deps == {"web -> shop/orders"}  # the pinned target version moved


def test_sbom_of_a_released_version_validates(catalog):
    _shop(catalog)
    _cut(catalog, "1.0.0")
    draft = catalog.api.get(f"{catalog.base}/products/shop/versions/1.0.0/sbom")
    assert draft.status_code == 409
    _release(catalog, "1.0.0")
    response = catalog.api.get(f"{catalog.base}/products/shop/versions/1.0.0/sbom")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.cyclonedx+json"
    text = response.get_data(as_text=True)
    assert services.validate_sbom(text) is None
    bom = json.loads(text)
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["version"] == "1.0.0"
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["flask"]["purl"] == "pkg:pypi/flask@3.1.0"
    assert by_name["flask"]["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    assert by_name["react"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert by_name["orders"]["version"] == "1.4.0"
    assert by_name["auth"]["group"] == "platform"
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert deps[by_name["orders"]["bom-ref"]] == {by_name["flask"]["bom-ref"], by_name["auth"]["bom-ref"]}


def test_validator_rejects_a_broken_document():
    assert services.validate_sbom(
        '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": 1}]}'
    )
