"""The catalog import at size: written in batches, yet every change is audited and announced
once, and a rejected entity leaves nothing behind (not even the product it named)."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform.audit import AuditEntry
from taiji.platform.db import db
from taiji.platform.events import OutboxEvent

COMPONENTS = 450  # more than two batches of FLUSH_EVERY


def _file(count: int, layer: str = "base") -> str:
    docs = []
    for i in range(count):
        depends = f"\n  dependsOn: [component:svc-{i - 1}]" if i else ""
        docs.append(
            f"kind: Component\nmetadata:\n  name: svc-{i}\n  annotations:\n    taiji.io/layer: {layer}\n"
            f"spec:\n  type: service\n  owner: team-a\n  system: big{depends}\n"
        )
    return "---\n".join(docs)


def _post(catalog, text):
    response = catalog.api.post(
        f"{catalog.base}/catalog/import", data=text, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 200, response.json
    return response.json


def _count(model, *where) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def _audited(tenant, action: str) -> int:
    return _count(AuditEntry, AuditEntry.tenant_id == tenant.id, AuditEntry.action == action)


def _announced(tenant) -> int:
    changed = OutboxEvent.name == "spm.component.changed"
    return _count(OutboxEvent, OutboxEvent.tenant_id == tenant.id, changed)


def test_a_large_import_audits_and_announces_every_change_once(catalog, tenant):
    report = _post(catalog, _file(COMPONENTS))
    assert len(report["created"]) == COMPONENTS and not report["rejected"]
    created = _audited(tenant, "spm.component.created")
    linked = _audited(tenant, "spm.component.dependency-added")
    assert (created, linked) == (COMPONENTS, COMPONENTS - 1)
    events = _announced(tenant)
    assert events == 2 * COMPONENTS - 1
    impact = catalog.api.get(f"{catalog.base}/products/big/components/svc-0/impact?max_depth=2").json
    assert [d["component"] for d in impact] == ["big/svc-1", "big/svc-2"]

    again = _post(catalog, _file(COMPONENTS))
    assert len(again["unchanged"]) == COMPONENTS and not again["created"] and not again["updated"]
    assert _announced(tenant) == events


def test_a_rejected_component_does_not_create_the_product_it_names(catalog):
    report = _post(catalog, _file(1, layer="penthouse"))
    assert [r["entity"] for r in report["rejected"]] == ["component:default/svc-0"]
    assert "penthouse" in report["rejected"][0]["reason"]
    assert catalog.api.get(f"{catalog.base}/products/big").status_code == 404
