"""Odd revisions, paths and page numbers from URLs never make a 500."""

from __future__ import annotations

import pytest

from taiji.modules.vcs import services
from taiji.platform.db import db
from tests.factories import system_principal

from .fixtures.gitdata import seed_shop

ODD_REVS = ["main~999999", "main^^^^^^^^", "@{1}", "main@{yesterday}", "HEAD@{upstream}", "{}", "^", "~", "@",
            "main^{/Greet}", "v1.0.0^{}", "v1.0.0^{tree}", "main^{blob}", "0" * 40, "abc", "a" * 255,
            "a" * 300,
            "refs/heads/main", "HEAD", "main@{0}", "main~-1", "main^{commit}", "%00", "main%0a", "ma\tin",
            "+main", "main.lock", "/", "//", ".", "_"]


@pytest.fixture
def base(tenant, login, admin):
    repo = services.create_repository(tenant, {"name": "shop"}, actor=system_principal())
    db.session.commit()
    seed_shop(services.local_git_dir(repo))
    return login(admin), f"/t/{tenant.slug}/repositories/shop"


@pytest.mark.parametrize("rev", ODD_REVS)
def test_odd_revisions_are_answered_without_a_server_error(base, rev):
    console, root = base
    for suffix in (f"/tree/{rev}", f"/blob/{rev}/README.md", f"/commits/{rev}", f"/commit/{rev}",
                   f"/compare/main...{rev}", f"/archive/{rev}.zip", f"/raw/{rev}/README.md"):
        response = console.get(root + suffix)
        assert response.status_code in (200, 302, 308, 404, 422), (suffix, response.status_code)


@pytest.mark.parametrize("query", ["page=-1", "page=abc", "page=99999999999999999999", "page=100000",
                                   "path=%00", "path=../../x", "path=" + "a/" * 500])
def test_odd_history_queries_are_answered_without_a_server_error(base, query):
    console, root = base
    assert console.get(f"{root}/commits/main?{query}").status_code in (200, 404)
