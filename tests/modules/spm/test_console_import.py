"""SPM console: importing a catalog-info.yaml, with a dry run first."""

from __future__ import annotations

import io

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: System
metadata: {name: webshop, title: Web shop}
spec: {owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: cart
  annotations: {taiji.io/layer: business-logic}
spec: {type: service, system: webshop, owner: team-a, lifecycle: production, dependsOn: [component:stock]}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: stock
  annotations: {taiji.io/layer: base}
spec: {type: service, system: webshop, owner: team-b, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-a}
"""


def test_import_dry_run_changes_nothing_then_apply_creates(login, admin, tenant, catalog):
    client = login(admin)
    url = f"/t/{tenant.slug}/catalog/import"
    assert 'data-testid="import-form"' in client.get(url).get_data(as_text=True)
    dry = client.post(url, data={"step": "check", "text": CATALOG})
    assert dry.status_code == 200
    html = dry.get_data(as_text=True)
    assert 'data-testid="import-dry-run"' in html
    assert "would create 3 entities, change 0, leave 0 as they are and refuse 1" in html
    assert "component:default/cart" in html and "Group" in html
    # Nothing written: no product, no audit entry, no event.
    assert catalog.api.get(f"{catalog.base}/products/webshop").status_code == 404
    assert 'data-testid="import-apply"' in html
    applied = client.post(url, data={"step": "apply", "text": CATALOG})
    assert applied.status_code == 200
    assert 'data-testid="import-result"' in applied.get_data(as_text=True)
    assert catalog.api.get(f"{catalog.base}/products/webshop").status_code == 200
    cart = catalog.api.get(f"{catalog.base}/products/webshop/components/cart/depends-on").json
    assert [e["component"] for e in cart] == ["webshop/stock"]
    # The same file again: everything unchanged.
    again = client.post(url, data={"step": "check", "text": CATALOG}).get_data(as_text=True)
    assert "would create 0 entities, change 0, leave 3 as they are" in again


def test_import_an_uploaded_file(login, admin, tenant, catalog):
    client = login(admin)
    response = client.post(f"/t/{tenant.slug}/catalog/import", content_type="multipart/form-data",
                           data={"step": "check",
                                 "file": (io.BytesIO(CATALOG.encode()), "catalog-info.yaml")})
    assert response.status_code == 200
    assert "would create 3 entities" in response.get_data(as_text=True)


def test_import_refuses_bad_yaml_aliases_and_oversized_files_in_words(login, admin, tenant, catalog):
    client = login(admin)
    url = f"/t/{tenant.slug}/catalog/import"
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    refused = client.post(url, data={"step": "check", "text": bomb})
    assert refused.status_code == 422 and "invalid-feedback" in refused.get_data(as_text=True)
    broken = client.post(url, data={"step": "check", "text": "kind: [unclosed"})
    assert broken.status_code == 422
    big = client.post(url, content_type="multipart/form-data", data={
        "step": "check", "file": (io.BytesIO(b"# " + b"x" * (2 * 1024 * 1024 + 10)), "big.yaml")})
    assert big.status_code in (413, 422)
    empty = client.post(url, data={"step": "check", "text": "  "})
    assert empty.status_code == 422 and "paste the YAML" in empty.get_data(as_text=True)


def test_a_viewer_cannot_import(login, tenant):
    from tests.factories import make_member

    client = login(make_member(tenant, "viewer"))
    assert client.get(f"/t/{tenant.slug}/catalog/import").status_code == 403
    assert client.post(f"/t/{tenant.slug}/catalog/import", data={"text": CATALOG}).status_code == 403
