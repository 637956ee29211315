"""CycloneDX software bill of materials of a released product version.

Built from the version's frozen snapshot with cyclonedx-python-lib and checked against the
CycloneDX JSON schema before it is handed out.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from packageurl import PackageURL

from taiji.platform.errors import Conflict, msg

from ..models import Product, ProductVersion

if TYPE_CHECKING:  # cyclonedx is imported where used: importing it costs every process's start-up
    from cyclonedx.model.component import Component

# The CycloneDX component type (a ComponentType member's name) of each kind of component.
_TYPES = {
    "service": "APPLICATION",
    "frontend": "APPLICATION",
    "job": "APPLICATION",
    "library": "LIBRARY",
    "database": "DATA",
}


class InvalidSbom(RuntimeError):
    """The document we produced does not validate: a bug on our side, never the user's."""


def _own_purl(tenant_slug: str, product: str, name: str, version: str) -> PackageURL:
    return PackageURL(type="generic", namespace=f"taiji/{tenant_slug}/{product}", name=name, version=version)


def build(tenant, product: Product, version: ProductVersion) -> str:
    """The CycloneDX 1.6 JSON of a released (or deprecated, or retired) version."""
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    if version.snapshot is None:
        raise Conflict(
            msg("Version %(version)s is a draft; a bill of materials describes a released version. "
                "Release it first.", version=version.version)
        )
    snap = version.snapshot
    released = version.released_at or dt.datetime.now(dt.UTC)
    bom = Bom()
    bom.metadata.timestamp = released
    root = Component(
        name=product.slug,
        version=version.version,
        type=ComponentType.APPLICATION,
        bom_ref=f"{product.slug}@{version.version}",
        description=product.name,
        purl=_own_purl(tenant.slug, product.slug, product.slug, version.version),
    )
    bom.metadata.component = root
    licenses = LicenseFactory()
    own: dict[str, Component] = {}
    for item in snap["components"]:
        node = Component(
            name=item["name"],
            version=item["version"],
            group=product.slug,
            type=ComponentType[_TYPES.get(item["kind"], "APPLICATION")],
            bom_ref=f"{product.slug}/{item['name']}@{item['version']}",
            purl=_own_purl(tenant.slug, product.slug, item["name"], item["version"]),
        )
        own[item["name"]] = node
        bom.components.add(node)
    bom.register_dependency(root, list(own.values()))
    outside: dict[str, Component] = {}
    edges: dict[str, list[Component]] = {name: [] for name in own}
    for dep in snap["dependencies"]:
        target_product, _, target_name = dep["target"].rpartition("/")
        if target_product == product.slug and target_name in own:
            edges[dep["source"]].append(own[target_name])
            continue
        key = f"{dep['target']}@{dep['target_version']}"
        if key not in outside:
            outside[key] = Component(
                name=target_name,
                group=target_product,
                version=dep["target_version"],
                type=ComponentType.APPLICATION,
                bom_ref=key,
                purl=_own_purl(tenant.slug, target_product, target_name, dep["target_version"]),
            )
            bom.components.add(outside[key])
        edges[dep["source"]].append(outside[key])
    for dep in snap["third_party"]:
        key = f"third-party:{dep['name']}@{dep['version_range']}"
        if key not in outside:
            purl = PackageURL.from_string(dep["purl"]) if dep.get("purl") else None
            node = Component(
                name=dep["name"],
                type=ComponentType.LIBRARY,
                bom_ref=key,
                purl=purl,
                version=(purl.version if purl and purl.version else dep["version_range"]),
                licenses=[licenses.make_from_string(dep["license"])] if dep.get("license") else None,
            )
            outside[key] = node
            bom.components.add(node)
        edges[dep["source"]].append(outside[key])
    for name, targets in edges.items():
        if targets:
            bom.register_dependency(own[name], targets)
    document = JsonV1Dot6(bom).output_as_string(indent=2)
    error = validate(document)
    if error is not None:
        raise InvalidSbom(error)
    return document


def validate(document: str) -> str | None:
    """None when ``document`` is valid CycloneDX 1.6 JSON, else the validator's complaint."""
    # Imported here: the validator pulls in heavy schema libraries that cost every process
    # about a second at start-up, and only SBOM exports need it.
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    return None if error is None else str(getattr(error.data, "message", error))
