"""SPM benchmark: a tenant with 5,000 components and 20,000 dependencies.

Measures, through the real application and database (a fresh ``<name>_spm`` database next to
TAIJI_BENCH_DATABASE_URL's or the local PostgreSQL's ``taiji_bench``; SQLite when no
PostgreSQL answers):
  - the catalog list page (filtered, paginated) p50/p99,
  - the impact query (what depends on X, transitively) p50/p99,
  - the full architecture-rule check of the tenant (cold, then with the graph cached),
  - importing a catalog-info.yaml of 1,000 entities.

Run ``python -m bench.spm_bench``; ``make bench`` (bench/run.py) adds these rows to its table.
The goal from the issue: p99 under 100 ms for each query at this size.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

COMPONENTS = int(os.environ.get("SPM_BENCH_COMPONENTS", 5000))
DEPENDENCIES = int(os.environ.get("SPM_BENCH_DEPENDENCIES", 20000))
PRODUCTS = 50
IMPORT_ENTITIES = 1000
SAMPLES = 200


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def database(workdir: Path) -> str:
    """A fresh, empty database for the SPM tenant: on PostgreSQL when it answers, else SQLite."""
    from sqlalchemy.engine import make_url

    from bench.seed import DEFAULT_SERVER

    explicit = os.environ.get("TAIJI_BENCH_DATABASE_URL")
    url = explicit or DEFAULT_SERVER
    if not url.startswith("postgresql"):
        return url
    target = make_url(url)
    target = target.set(database=f"{target.database}_spm")
    server = sa.create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    except sa.exc.OperationalError:
        if explicit:
            raise
        return f"sqlite:///{workdir / 'spm-bench.db'}"
    finally:
        server.dispose()
    return target.render_as_string(hide_password=False)


def _app(workdir: Path, url: str):
    from flask_migrate import upgrade

    from taiji.platform.app import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "DATA_DIR": str(workdir),
            "SECRET_KEY": "bench",
            "BROKER_URL": "memory://",
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "TESTING": True,
        }
    )
    # One log line per request would bury the table.
    for name in ("taiji", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
    return app


def _seed(tenant, rng: random.Random) -> list[tuple[str, str]]:
    """Bulk-insert products, components and dependencies; mostly downward, some violations."""
    from taiji.modules.spm import services
    from taiji.modules.spm.models import Component, Dependency, Product
    from taiji.platform.db import db

    layers = services.layers(tenant)
    db.session.execute(
        sa.insert(Product),
        [
            {
                "tenant_id": tenant.id,
                "slug": f"product-{p}",
                "name": f"Product {p}",
                "description": "",
                "lifecycle": rng.choice(["experimental", "production"]),
                "owners": [f"team-{p % 10}"],
                "tags": [f"tag-{p % 7}"],
                "owner_index": f"|team-{p % 10}|",
                "tag_index": f"|tag-{p % 7}|",
            }
            for p in range(PRODUCTS)
        ],
    )
    product_ids = dict(
        db.session.execute(sa.select(Product.slug, Product.id).where(Product.tenant_id == tenant.id)).all()
    )
    rows = []
    for i in range(COMPONENTS):
        p = i % PRODUCTS
        rows.append(
            {
                "tenant_id": tenant.id,
                "product_id": product_ids[f"product-{p}"],
                "name": f"component-{i}",
                "description": "",
                "kind": "service",
                "layer": layers[i % len(layers)],
                "owner": f"team-{i % 25}",
                "lifecycle": "production",
                "version": "1.0.0",
                "tags": [],
                "tag_index": "",
            }
        )
    db.session.execute(sa.insert(Component), rows)
    comps = db.session.execute(
        sa.select(Component.id, Component.product_id, Component.layer, Product.slug, Component.name)
        .join(Product, Product.id == Component.product_id)
        .where(Component.tenant_id == tenant.id)
    ).all()
    by_layer: dict[str, list] = {}
    for c in comps:
        by_layer.setdefault(c.layer, []).append(c)
    pairs: set[tuple[int, int]] = set()
    deps = []
    while len(deps) < DEPENDENCIES:
        source = rng.choice(comps)
        rank = layers.index(source.layer)
        # Nine in ten go down a layer or more (allowed); the rest are the violations a real
        # catalog accumulates.
        lower = layers[rank + 1 :] if rank + 1 < len(layers) and rng.random() < 0.9 else layers
        target = rng.choice(by_layer[rng.choice(lower)])
        if (source.id, target.id) in pairs or source.id == target.id:
            continue
        pairs.add((source.id, target.id))
        deps.append(
            {
                "tenant_id": tenant.id,
                "product_id": source.product_id,
                "source_id": source.id,
                "target_id": target.id,
                "version_range": "^1",
            }
        )
    db.session.execute(sa.insert(Dependency), deps)
    services.rules.touch(tenant)
    db.session.commit()
    return [(c.slug, c.name) for c in comps]


def _catalog_yaml(entities: int) -> str:
    docs = []
    systems = 10
    for s in range(systems):
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: imported-{s}\n"
            f"spec:\n  owner: team-{s}\n"
        )
    for i in range(entities - systems):
        s = i % systems
        depends = f"\n  dependsOn: [component:imported-{s}/svc-{i - systems}]" if i >= systems else ""
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc-{i}\n"
            f"  namespace: imported-{s}\n  annotations:\n    taiji.io/layer: base\n"
            f"spec:\n  type: service\n  lifecycle: production\n  owner: team-{s}\n"
            f"  system: imported-{s}{depends}\n"
        )
    return "---\n".join(docs)


def _timed(call, count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def run(url: str | None = None) -> list[dict]:
    """Build the tenant in the database at ``url`` (default: ``database()``), measure, and
    return rows of (metric, p50 ms, p99 ms, goal)."""
    from taiji.modules.iam import services as iam
    from taiji.modules.spm import services
    from taiji.modules.spm.services import graph
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db

    rng = random.Random(42)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = url or database(Path(tmp))
        app = _app(Path(tmp), url)
        with app.app_context():
            user = iam.create_user("bench@example.com", "Bench", "bench-password-123", admin=True)
            tenant = tm.create_tenant("bench", "Bench", owner_id=user.id)
            importer = tm.create_tenant("bench-import", "Bench import", owner_id=user.id)
            db.session.commit()
            _, token = iam.create_token(user, "bench")
            db.session.commit()
            start = time.perf_counter()
            comps = _seed(tenant, rng)
            seeded = (time.perf_counter() - start) * 1000
            rows.append(
                {
                    "metric": f"seed {COMPONENTS} components, {DEPENDENCIES} dependencies",
                    "p50": seeded,
                    "p99": seeded,
                    "goal": None,
                }
            )
            tenant_id, importer_id = tenant.id, importer.id

        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        base = "/api/v1/tenants/bench"
        layers = services.DEFAULT_LAYERS

        def list_page():
            query = rng.choice(
                [
                    f"layer={rng.choice(layers)}",
                    f"owner=team-{rng.randrange(25)}",
                    f"q=component-{rng.randrange(100)}",
                    "",
                ]
            )
            response = client.get(
                f"{base}/components?{query}&page={rng.randrange(1, 5)}&page_size=20", headers=headers
            )
            assert response.status_code == 200, response.get_data(as_text=True)

        def product_list():
            response = client.get(
                f"{base}/products?tag=tag-{rng.randrange(7)}&lifecycle=production", headers=headers
            )
            assert response.status_code == 200

        def impact():
            product, name = rng.choice(comps)
            response = client.get(f"{base}/products/{product}/components/{name}/impact", headers=headers)
            assert response.status_code == 200

        for label, call in (
            ("component list page (filtered)", list_page),
            ("product list page", product_list),
            ("impact query (transitive, first page of 20)", impact),
        ):
            call()  # warm up (builds and caches the graph for the impact query)
            samples = _timed(call, SAMPLES)
            rows.append(
                {
                    "metric": label,
                    "p50": statistics.median(samples),
                    "p99": _percentile(samples, 99),
                    "goal": 100.0,
                }
            )

        with app.app_context():
            from taiji.platform.tenancy import Tenant

            tenant = db.session.get(Tenant, tenant_id)
            graph._CACHE.clear()
            start = time.perf_counter()
            found = services.check(tenant)
            cold = (time.perf_counter() - start) * 1000
            warm = _timed(lambda: services.check(tenant), 5)
            rows.append(
                {
                    "metric": f"full rule check, graph cold ({len(found)} violations)",
                    "p50": cold,
                    "p99": cold,
                    "goal": None,
                }
            )
            rows.append(
                {
                    "metric": "full rule check, graph cached",
                    "p50": statistics.median(warm),
                    "p99": max(warm),
                    "goal": None,
                }
            )
            db.session.rollback()

        text = _catalog_yaml(IMPORT_ENTITIES)
        start = time.perf_counter()
        response = client.post(
            "/api/v1/tenants/bench-import/catalog/import",
            data=text,
            headers={**headers, "Content-Type": "application/yaml"},
        )
        took = (time.perf_counter() - start) * 1000
        assert response.status_code == 200 and not response.json["rejected"], response.json
        rows.append(
            {
                "metric": f"catalog-info import, {IMPORT_ENTITIES} entities",
                "p50": took,
                "p99": took,
                "goal": None,
            }
        )
        start = time.perf_counter()
        again = client.post(
            "/api/v1/tenants/bench-import/catalog/import",
            data=text,
            headers={**headers, "Content-Type": "application/yaml"},
        )
        took = (time.perf_counter() - start) * 1000
        assert again.status_code == 200, again.json
        assert not again.json["created"] and not again.json["updated"], again.json
        rows.append(
            {
                "metric": f"catalog-info import again, {IMPORT_ENTITIES} entities (all unchanged)",
                "p50": took,
                "p99": took,
                "goal": None,
            }
        )
        assert importer_id
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| SPM: 5,000 components, 20,000 dependencies | p50 ms | p99 ms | goal |", "|---|---|---|---|"]
    for row in rows:
        goal = f"p99 < {row['goal']:.0f} ms" if row["goal"] else ""
        lines.append(f"| {row['metric']} | {row['p50']:.1f} | {row['p99']:.1f} | {goal} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database(Path(tmp))
        from bench.seed import describe

        print(f"database: {describe(url)}")
        print(table(run(url)))


if __name__ == "__main__":
    main()
