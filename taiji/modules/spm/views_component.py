"""SPM console pages, part three: a component's page (what it is, what it depends on, what
depends on it, the versions it shipped in), what breaks if one of its APIs is retired, and the
at-once warning of the dependency form. Shares the blueprint of ``views``."""

from __future__ import annotations

import re

from flask import current_app, render_template, request, url_for

from taiji.platform import auth
from taiji.platform.web.console import page_arg

from . import services
from .forms import parse_apis
from .permissions import Perm
from .views import PRODUCT, bp

COMPONENT = PRODUCT + "/components/<component>"


def component_url(tenant: str, ref: str) -> str:
    """The page of the component ``product/name``."""
    product, _, name = ref.partition("/")
    return url_for("spm.component", tenant=tenant, product=product, component=name)


def repository_link(tenant: str, url: str | None) -> tuple[str | None, bool]:
    """Where the component's repository URL leads: the console page of one of this Taiji's hosted
    repositories when it names one (clone URL or console URL), else the URL itself when it is
    http(s). The flag says whether the link stays in the console."""
    if not url:
        return None, False
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    if base and "vcs.repository" in current_app.view_functions:
        for pattern in (rf"{re.escape(base)}/git/{re.escape(tenant)}/([\w.-]+?)(?:\.git)?/?$",
                        rf"{re.escape(base)}/t/{re.escape(tenant)}/repositories/([\w.-]+)/?$"):
            found = re.match(pattern, url)
            if found:
                return url_for("vcs.repository", tenant=tenant, repo=found.group(1)), True
    return (url, False) if re.match(r"https?://", url, re.IGNORECASE) else (None, False)


def _versions_with(product, component) -> list[dict]:
    """The product's versions that hold the component, with the component's version in each."""
    out = []
    for version in services.list_versions(product, page=1, page_size=50).items:
        listed = services.contents(version)["components"]
        entry = next((c for c in listed if c["name"] == component.name), None)
        if entry is not None:
            out.append({"version": version, "component_version": entry.get("version")})
    return out


@bp.get(COMPONENT)
@auth.require(Perm.PRODUCT_READ)
def component(tenant, product, component):
    item = services.get_product(tenant, product)
    row = services.get_component(tenant, item, component)
    depends = services.depends_on(tenant, row, page=page_arg("dpage"), page_size=20)
    impact = services.impact(tenant, row, page=page_arg("ipage"), page_size=20)
    repo_href, repo_inside = repository_link(tenant.slug, row.repository_url)
    violations = [v for v in services.violations_around(tenant, item) if row.ref in v.components]
    return render_template(
        "spm/component.html",
        product=item,
        component=row,
        provides=[a for a in row.apis if a.direction == "provides"],
        consumes=[a for a in row.apis if a.direction == "consumes"],
        dependencies=services.list_dependencies(row),
        depends=depends,
        impact=impact,
        versions=_versions_with(item, row),
        violations=violations,
        repo_href=repo_href,
        repo_inside=repo_inside,
        component_url=component_url,
    )


@bp.get(COMPONENT + "/apis/<api>/<api_version>/retirement")
@auth.require(Perm.PRODUCT_READ)
def api_retirement(tenant, product, component, api, api_version):
    item = services.get_product(tenant, product)
    row = services.get_component(tenant, item, component)
    answer = services.api_retirement_impact(tenant, row, api, api_version)
    return render_template("spm/retirement.html", product=item, component=row, answer=answer,
                           component_url=component_url)


@bp.get(PRODUCT + "/dependencies/check")
@auth.require(Perm.PRODUCT_READ)
def check_dependency(tenant, product):
    """The dependency form asks this as soon as its source or target changes (htmx): the rules
    the new dependency would break, as an amber warning; nothing when it breaks none."""
    item = services.get_product(tenant, product)
    source = services.find_component(tenant, item, (request.args.get("source") or "").strip().lower())
    target = (request.args.get("target") or "").strip()
    found = services.dependency_violations(tenant, source, target) if source is not None and target else []
    return render_template("spm/_dependency_warning.html", violations=found)


@bp.get(PRODUCT + "/component-check")  # not under /components/: a component may be named check
@auth.require(Perm.PRODUCT_READ)
def check_component(tenant, product):
    """The component forms (add and edit) ask this when the layer or the APIs change (htmx): the
    rules the component as filled in would break through its layer and the APIs it provides and
    consumes, as an amber warning before saving."""
    item = services.get_product(tenant, product)
    editing = request.args.get("editing") or ""
    row = services.find_component(tenant, item, editing.strip().lower()) if editing else None
    data = {
        "name": request.args.get("name") or "",
        "kind": request.args.get("kind") or "service",
        "layer": request.args.get("layer") or None,
        "owns_database": request.args.get("owns_database") or None,
        "provides": parse_apis(request.args.get("provides")),
        "consumes": parse_apis(request.args.get("consumes")),
    }
    found = services.component_violations(tenant, item, data, row)
    return render_template("spm/_dependency_warning.html", violations=found, what="component")
