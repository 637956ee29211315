"""The example product's pipelines (what `taiji demo` pushes) pass on the docker runner with the
bootstrapped image: the examples' own tests run in it, their wheels are built and published."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.live


def _files(name: str) -> dict[str, bytes]:
    folder = ROOT / "examples" / name
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc")
    }


@pytest.mark.parametrize("example", ["hello-service", "wordcount-service"])
def test_the_example_pipeline_passes_on_docker(dci, example):
    from taiji.modules.bpr import services as bpr

    with dci.ctx():
        from taiji.platform.db import db

        tenant = dci.tenant()
        if bpr.find_repository(tenant, "pypi-internal") is None:
            bpr.create_repository(tenant, {"name": "pypi-internal", "kind": "pypi"})
        db.session.commit()
        db.session.remove()
    repo = dci.repo(_files(example), name=example)
    state = dci.drive(dci.run(repo), timeout=240)
    logs = {name: dci.log(job["id"]) for name, job in state["jobs"].items()}
    assert state["status"] == "success", logs
    test, package = state["jobs"]["test"], state["jobs"]["package"]
    assert test["junit"]["tests"] >= 3 and test["junit"]["failures"] == 0, logs["test"]
    assert "passed" in logs["test"] and "runner docker" in logs["test"]
    [(path, _size, published)] = package["artifacts"]
    assert path.startswith("dist/") and path.endswith(".whl")
    assert published["repository"] == "pypi-internal" and "error" not in published, published
