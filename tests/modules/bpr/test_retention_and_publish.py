"""Retention (keep the last N versions, drop old files, never a released product's) and
``publish_artifact``, the service pipelines call."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from taiji.modules.bpr import services as bpr
from taiji.platform.audit import AuditEntry
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Conflict, Invalid, NotFound
from tests.modules.bpr.conftest import put_package

BASE = "/api/v1/tenants/{t}/bpr/repositories"


def _release_product_with(tenant, component: str, version: str) -> None:
    from taiji.modules.spm import services as spm

    product = spm.create_product(tenant, {"slug": "shop", "name": "Shop"})
    spm.create_component(tenant, product, {"name": component, "version": version})
    spm.release(tenant, product, spm.create_version(tenant, product, "1.0.0"))
    db.session.commit()


def test_keep_last_keeps_the_newest_versions_and_the_released_one(api_as, tenant, admin, make_repo):
    repository = make_repo("py", "pypi", keep_last=2)
    for version in ("0.9.0", "1.0.0", "1.1.0", "1.10.0", "2.0.0"):
        put_package(tenant, repository, f"orders-{version}-py3-none-any.whl", version.encode())
    _release_product_with(tenant, "orders", "1.0.0")
    api = api_as(admin)
    preview = api.get(BASE.format(t=tenant.slug) + "/py/retention")
    assert preview.status_code == 200 and preview.json["applied"] is False
    doomed = sorted(item["file"]["version"] for item in preview.json["files"])
    assert doomed == ["0.9.0", "1.1.0"]  # 2.0.0 and 1.10.0 are the last two; 1.0.0 is released
    assert len(api.get(BASE.format(t=tenant.slug) + "/py/files").json) == 5  # a preview deletes nothing
    applied = api.post(BASE.format(t=tenant.slug) + "/py/retention")
    assert applied.status_code == 200 and applied.json["applied"] is True
    left = sorted(f["version"] for f in api.get(BASE.format(t=tenant.slug) + "/py/files").json)
    assert left == ["1.0.0", "1.10.0", "2.0.0"]
    run = db.session.query(AuditEntry).filter_by(action="bpr.retention.applied").one()
    assert run.details["deleted"] == 2


def test_max_age_drops_old_files_of_a_generic_repository(tenant, make_repo):
    repository = make_repo("files", max_age_days=30)
    young = bpr.store_generic(tenant, repository, "logs/new.txt", io.BytesIO(b"new"), length=3)
    aged = bpr.store_generic(tenant, repository, "logs/old.txt", io.BytesIO(b"old"), length=3)
    aged.created_at = utcnow() - dt.timedelta(days=31)
    db.session.commit()
    planned = bpr.retention_plan(tenant, repository)
    assert [item["file"].path for item in planned] == ["logs/old.txt"]
    bpr.apply_retention(tenant, repository)
    db.session.commit()
    assert [f.path for f in bpr.list_files(repository).items] == [young.path]


def test_the_daily_task_applies_every_repositorys_rules(tenant, make_repo, app):
    from taiji.modules.bpr.tasks import apply_retention

    repository = make_repo("py", "pypi", keep_last=1)
    for version in ("1.0", "2.0"):
        put_package(tenant, repository, f"a-{version}.tar.gz", version.encode())
    assert apply_retention.run(repository.id) == 1
    assert [f.version for f in bpr.list_files(repository).items] == ["2.0"]


def _wheel(tmp_path, name="orders", version="1.2.3"):
    path = tmp_path / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            f"{name}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.10\n",
        )
    return path


def test_publish_artifact_into_an_index_and_a_generic_repository(tenant, make_repo, tmp_path):
    make_repo("pypi-internal", "pypi")
    make_repo("builds")
    wheel = _wheel(tmp_path)
    published = bpr.publish_artifact(tenant, "pypi-internal", wheel, source={"pipeline": 7, "job": "package"})
    assert published["package"] == "orders" and published["version"] == "1.2.3"
    assert published["filename"] == wheel.name and published["size"] == wheel.stat().st_size
    assert published["url"].endswith(f"/pypi/{tenant.slug}/pypi-internal/files/orders/{wheel.name}")
    row = bpr.find_file(bpr.get_repository(tenant, "pypi-internal"), f"orders/{wheel.name}")
    assert row.requires_python == ">=3.10" and row.meta["source"]["pipeline"] == 7
    generic = bpr.publish_artifact(tenant, "builds", wheel, path=f"orders/1.2.3/{wheel.name}")
    assert generic["path"] == f"orders/1.2.3/{wheel.name}" and generic["sha256"] == published["sha256"]
    assert bpr.repository_exists(tenant, "builds") and bpr.repository_kind(tenant, "builds") == "generic"
    assert bpr.repository_kind(tenant, "nope") is None


def test_publish_artifact_says_clearly_what_is_wrong(tenant, make_repo, tmp_path):
    from taiji.platform import quotas

    make_repo("pypi-internal", "pypi")
    wheel = _wheel(tmp_path)
    bpr.publish_artifact(tenant, "pypi-internal", wheel)
    with pytest.raises(Conflict, match="already exists"):
        bpr.publish_artifact(tenant, "pypi-internal", wheel)
    with pytest.raises(NotFound):
        bpr.publish_artifact(tenant, "missing", wheel)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(Invalid, match="not the name of a wheel"):
        bpr.publish_artifact(tenant, "pypi-internal", notes)
    quotas.set_limit(tenant, "bpr.storage_bytes", 10)
    with pytest.raises(bpr.PayloadTooLarge, match="quota"):
        bpr.publish_artifact(tenant, "pypi-internal", _wheel(tmp_path, version="2.0"))
