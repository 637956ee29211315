"""Repository pages and the API with ref names git accepts but Taiji does not keep (written around
Taiji, or before pushes refused them): never a 500, and the usable refs still shown."""

from __future__ import annotations

import subprocess

import pytest

from taiji.modules.vcs import services
from taiji.platform.db import db
from tests.factories import system_principal

from .fixtures.gitdata import seed_shop

ODD_REFS = [b"refs/heads/caf\xe9", b"refs/tags/v\xff1", b"refs/heads/" + b"x/" * 150 + b"end"]


@pytest.fixture
def odd(tenant):
    repo = services.create_repository(tenant, {"name": "odd"}, actor=system_principal())
    db.session.commit()
    path = services.local_git_dir(repo)
    shas = seed_shop(path)
    for ref in ODD_REFS:
        subprocess.run([b"git", b"--git-dir=" + bytes(path), b"update-ref", ref, shas["third"].encode()],
                       check=True)
    return {"repo": repo, "base": f"/t/{tenant.slug}/repositories/odd", **shas}


def test_repository_pages_with_odd_ref_names_answer_and_list_the_others(login, admin, tenant, odd):
    console = login(admin)
    base = odd["base"]
    for path in ("", "/branches", "/tree/main", "/tree/main/src", "/commits/main", "/compare",
                 f"/compare/main...{odd['feature']}", f"/commit/{odd['third']}", "/blob/main/README.md",
                 "/tree/caf%E9", "/commits/caf%E9", "/tree/v%FF1"):
        response = console.get(base + path)
        assert response.status_code in (200, 404), (path, response.status_code)
    branches = console.get(base + "/branches").get_data(as_text=True)
    assert "feature/login" in branches and "main" in branches


def test_the_refs_api_with_odd_ref_names_answers_with_the_usable_ones(api_as, admin, tenant, odd):
    api = api_as(admin)
    response = api.get(f"/api/v1/tenants/{tenant.slug}/repositories/odd/refs")
    assert response.status_code == 200
    names = {b["name"] for b in response.json["branches"]} | {t["name"] for t in response.json["tags"]}
    assert "main" in names and "feature/login" in names
    assert all("\ufffd" not in n for n in names)
    assert api.get(f"/api/v1/tenants/{tenant.slug}/repositories/odd/commits?ref=main").status_code == 200
