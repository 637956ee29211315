"""``taiji demo``, the catalog part: a product whose components are the example services, so
the demo's catalog is not empty. Each component takes its name, version and description from
the service's ``pyproject.toml`` and points at its hosted repository (the component page links
to it). Run again, it adds only what is missing (and points the repositories at the base URL
given, when it moved); it changes nothing else."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import sqlalchemy.exc

from taiji.platform import tenancy
from taiji.platform.db import db
from taiji.platform.errors import ServiceError

from . import services

TENANT = "demo"
PRODUCT = "example-product"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
# What each example is in the architecture: the greeting service answers HTTP (access layer),
# word counting is business logic. A service not listed here gets no layer.
PLACES = {
    "hello-service": {"layer": "access", "provides": [{"name": "hello", "type": "rest", "version": "v1"}]},
    "wordcount-service": {"layer": "business-logic"},
}


def example_services(root: Path = EXAMPLES) -> list[Path]:
    """The example service folders: a pyproject.toml and a pipeline file each."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if (p / "pyproject.toml").is_file() and (p / ".taiji.yml").is_file())


def _project(folder: Path) -> dict:
    with (folder / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle).get("project", {})


def seed(base_url: str, *, examples: Path = EXAMPLES, tenant_slug: str = TENANT,
         echo: Callable[[str], None] = print) -> list[str]:
    """Create the example product and one component per example service in the tenant
    (when the tenant exists); commit; return what was created."""
    tenant = tenancy.tenant_by_slug(tenant_slug)
    if tenant is None:
        echo(f"the catalog: skipped, there is no tenant {tenant_slug} yet")
        return []
    made: list[str] = []
    try:
        _seed(tenant, base_url, examples, tenant_slug, made)
        db.session.commit()
    except (ServiceError, sqlalchemy.exc.OperationalError) as exc:
        db.session.rollback()
        echo(f"the catalog: not seeded ({exc}); run the demo again")
        return []
    echo(f"the catalog: {', '.join(made) + ' created' if made else 'reused'}")
    return made


def _seed(tenant, base_url: str, examples: Path, tenant_slug: str, made: list[str]) -> None:
    product = services.find_product(tenant, PRODUCT)
    if product is None:
        product = services.create_product(tenant, {
            "slug": PRODUCT, "name": "Example product", "lifecycle": "experimental", "owners": ["demo"],
            "tags": ["example"],
            "description": "The example services of the Taiji demo, as the catalog sees them.",
        })
        made.append(f"the product {PRODUCT}")
    for folder in example_services(examples):
        name = folder.name
        url = f"{base_url.rstrip('/')}/git/{tenant_slug}/{name}.git"
        found = services.find_component(tenant, product, name)
        if found is not None:
            if found.repository_url != url:  # served elsewhere than when first seeded
                services.update_component(tenant, found, {"repository_url": url})
                made.append(f"the repository URL of {PRODUCT}/{name}")
            continue
        project = _project(folder)
        services.create_component(tenant, product, {
            "name": name,
            "kind": "service",
            "owner": "demo",
            "version": str(project.get("version") or "0.1.0"),
            "repository_url": url,
            **PLACES.get(name, {}),
        })
        made.append(f"the component {PRODUCT}/{name}")
