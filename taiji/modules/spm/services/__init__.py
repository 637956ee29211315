"""SPM's public face: the product catalog. Other modules call only what this package exports.

Services take the tenant explicitly, flush and never commit.
"""

from __future__ import annotations

from .backstage import export as export_catalog
from .backstage_import import ImportReport, import_catalog
from .components import (
    add_dependency,
    create_component,
    delete_component,
    dependents,
    find_component,
    get_component,
    get_dependency,
    list_components,
    list_dependencies,
    product_dependencies,
    remove_dependency,
    update_component,
    update_dependency,
)
from .graph import (
    Violation,
    api_retirement_impact,
    check,
    depends_on,
    impact,
    product_graph,
    tenant_graph,
    violations_around,
)
from .preview import component_violations, dependency_violations, preview_catalog
from .products import (
    PRODUCTS_METER,
    count_products,
    create_product,
    delete_product,
    find_product,
    get_product,
    list_products,
    quota_meters,
    update_product,
)
from .rules import DEFAULT_LAYERS, RULES, layers, settings, severities, update_settings
from .sbom import build as sbom
from .sbom import validate as validate_sbom
from .versions import (
    compare,
    contents,
    create_version,
    delete_version,
    find_version,
    get_version,
    list_versions,
    release,
    set_status,
    snapshot,
    update_version,
)


def seed_demo_catalog(base_url: str, echo=print) -> list[str]:
    """``taiji demo``'s catalog part (the command is CICD's): the example product and one component per
    example service in the tenant ``demo``, pointing at their repositories under ``base_url``
    (taiji.modules.spm.demo); committed. What it created, empty when it reused everything."""
    from ..demo import seed

    return seed(base_url, echo=echo)


__all__ = [
    "DEFAULT_LAYERS",
    "PRODUCTS_METER",
    "RULES",
    "ImportReport",
    "Violation",
    "add_dependency",
    "api_retirement_impact",
    "check",
    "compare",
    "component_violations",
    "contents",
    "count_products",
    "create_component",
    "create_product",
    "create_version",
    "delete_component",
    "delete_product",
    "delete_version",
    "dependency_violations",
    "dependents",
    "depends_on",
    "export_catalog",
    "find_component",
    "find_product",
    "find_version",
    "get_component",
    "get_dependency",
    "get_product",
    "get_version",
    "impact",
    "import_catalog",
    "layers",
    "list_components",
    "list_dependencies",
    "list_products",
    "list_versions",
    "preview_catalog",
    "product_dependencies",
    "product_graph",
    "quota_meters",
    "release",
    "remove_dependency",
    "sbom",
    "seed_demo_catalog",
    "set_status",
    "settings",
    "severities",
    "snapshot",
    "tenant_graph",
    "update_component",
    "update_dependency",
    "update_product",
    "update_settings",
    "update_version",
    "validate_sbom",
    "violations_around",
]
