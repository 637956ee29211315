"""SPM REST routes, part two: rules and violations, the graph and its questions, versions,
SBOM, and the Backstage catalog import and export. Shares the blueprint of ``api``."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from taiji.platform import auth
from taiji.platform.api import set_page_count
from taiji.platform.errors import field_error, msg

from . import services
from .api import C, P, T, _component, _product, blp
from .permissions import Perm
from .schemas import (
    ExportQueryIn,
    GraphQueryIn,
    ImportReportOut,
    RelatedOut,
    RelatedQueryIn,
    RetirementOut,
    RulesIn,
    RulesOut,
    VersionDetailOut,
    VersionIn,
    VersionOut,
    VersionPatchIn,
    VersionQueryIn,
    ViolationOut,
    ViolationQueryIn,
)

V = P + "/versions/<version>"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def _rules(tenant):
    return {"layers": services.layers(tenant), "severities": services.severities(tenant),
            "rules": services.RULES}


@blp.route(T + "/catalog/rules")
class Rules(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.etag
    @blp.response(200, RulesOut)
    def get(self, tenant):
        """The tenant's layers (highest first) and the severity of each architecture rule"""
        return _rules(tenant)

    @auth.require(Perm.RULES_WRITE)
    @blp.etag
    @blp.arguments(RulesIn)
    @blp.response(200, RulesOut)
    def put(self, data, tenant):
        """Change layers or severities (error refuses releases, warning only reports); needs If-Match"""
        blp.check_etag(_rules(tenant), RulesOut)
        services.update_settings(tenant, layers=data.get("layers"), severities=data.get("severities"))
        return _rules(tenant)


@blp.route(P + "/violations")
class Violations(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(ViolationQueryIn, location="query")
    @blp.response(200, ViolationOut(many=True))
    def get(self, query, tenant, product):
        """Architecture-rule violations involving the product's components, errors first"""
        found = services.check(tenant, _product(tenant, product))
        return [v for v in found if query["severity"] in (None, v.severity)]


@blp.route(P + "/graph")
class Graph(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(GraphQueryIn, location="query")
    @blp.response(200)
    def get(self, query, tenant, product):
        """The product's dependency graph: nodes (with layer and violation), edges (with kinds)"""
        item = _product(tenant, product)
        focus = services.get_component(tenant, item, query["focus"]) if query["focus"] else None
        return services.product_graph(tenant, item, focus)


@blp.route(C + "/depends-on")
class DependsOn(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(RelatedQueryIn, location="query")
    @blp.response(200, RelatedOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, product, component, pagination_parameters):
        """Everything the component depends on, directly and transitively, nearest first

        Paginated; `max_depth` stops the walk that many edges away."""
        page = services.depends_on(
            tenant,
            _component(tenant, product, component),
            max_depth=query["max_depth"],
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(C + "/impact")
class Impact(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(RelatedQueryIn, location="query")
    @blp.response(200, RelatedOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, product, component, pagination_parameters):
        """Everything that depends on the component, directly and transitively (impact analysis)

        Paginated; `max_depth` stops the walk that many edges away."""
        page = services.impact(
            tenant,
            _component(tenant, product, component),
            max_depth=query["max_depth"],
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(C + "/apis/<api>/<api_version>/retirement")
class ApiRetirement(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.response(200, RetirementOut)
    def get(self, tenant, product, component, api, api_version):
        """What breaks if the component stopped providing `api` at `api_version`"""
        return services.api_retirement_impact(tenant, _component(tenant, product, component), api,
                                              api_version)


@blp.route(P + "/versions")
class Versions(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(VersionQueryIn, location="query")
    @blp.response(200, VersionOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, product, pagination_parameters):
        """Versions of the product, newest first"""
        page = services.list_versions(
            _product(tenant, product),
            status=query["status"],
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.arguments(VersionIn)
    @blp.response(201, VersionDetailOut)
    def post(self, data, tenant, product):
        """Cut a draft version (semantic version)"""
        version = services.create_version(tenant, _product(tenant, product), data["version"], data["notes"])
        return _detail(version)


def _detail(version):
    return {
        "version": version.version,
        "status": version.status,
        "notes": version.notes,
        "released_at": version.released_at,
        "released_by": version.released_by,
        "created_at": version.created_at,
        "updated_at": version.updated_at,
        "contents": services.contents(version),
    }


@blp.route(V)
class VersionItem(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.etag
    @blp.response(200, VersionDetailOut)
    def get(self, tenant, product, version):
        """One version with its contents (live while a draft, frozen once released)"""
        return _detail(services.get_version(_product(tenant, product), version))

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.arguments(VersionPatchIn)
    @blp.response(200, VersionDetailOut)
    def patch(self, data, tenant, product, version):
        """Change a draft's notes; a released version is immutable (409); needs If-Match"""
        item = _product(tenant, product)
        row = services.get_version(item, version)
        blp.check_etag(_detail(row), VersionDetailOut)
        return _detail(services.update_version(tenant, item, row, data["notes"]))

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, product, version):
        """Delete a draft; a released version is immutable (409); needs If-Match"""
        item = _product(tenant, product)
        row = services.get_version(item, version)
        blp.check_etag(_detail(row), VersionDetailOut)
        services.delete_version(tenant, item, row)


def _transition(action: str):
    @auth.require(Perm.PRODUCT_WRITE)
    @blp.response(200, VersionDetailOut)
    def post(self, tenant, product, version):
        item = _product(tenant, product)
        row = services.get_version(item, version)
        if action == "release":
            services.release(tenant, item, row)
        else:
            services.set_status(tenant, item, row, {"deprecate": "deprecated", "retire": "retired"}[action])
        return _detail(row)

    post.__doc__ = {
        "release": "Release a draft: freezes components and dependencies; refused (409) with the list "
        "while the product has error violations",
        "deprecate": "Mark a released version deprecated",
        "retire": "Retire a released or deprecated version",
    }[action]
    return type(f"Version{action.title()}", (MethodView,), {"post": post})


for _action in ("release", "deprecate", "retire"):
    blp.route(V + f"/{_action}")(_transition(_action))


@blp.route(V + "/compare/<other>")
class VersionCompare(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.response(200)
    def get(self, tenant, product, version, other):
        """What changed from this version to `other`: components, dependencies, third parties"""
        item = _product(tenant, product)
        return services.compare(services.get_version(item, version), services.get_version(item, other))


@blp.route(V + "/sbom")
class VersionSbom(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.response(200, content_type="application/vnd.cyclonedx+json")
    def get(self, tenant, product, version):
        """CycloneDX 1.6 JSON bill of materials of a released version"""
        item = _product(tenant, product)
        document = services.sbom(tenant, item, services.get_version(item, version))
        filename = f"{item.slug}-{version}.cdx.json"
        return Response(
            document,
            mimetype="application/vnd.cyclonedx+json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


@blp.route(T + "/catalog/import")
class CatalogImport(MethodView):
    @auth.require(Perm.PRODUCT_WRITE)
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "application/yaml": {
                    "schema": {"type": "string", "description": "catalog-info.yaml, one or many documents"}
                }
            },
        }
    )
    @blp.response(200, ImportReportOut)
    def post(self, tenant):
        """Import Backstage catalog-info.yaml; products come from spec.system and are created if missing"""
        if request.mimetype not in YAML_TYPES:
            raise field_error(
                "body",
                msg("Send the YAML with Content-Type application/yaml (got '%(mimetype)s').",
                    mimetype=request.mimetype or 'none'),
            )
        text = request.get_data(as_text=True)
        report = services.import_catalog(tenant, text)
        return report


@blp.route(T + "/catalog/export")
class CatalogExport(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(ExportQueryIn, location="query")
    @blp.response(200, content_type="application/yaml")
    def get(self, query, tenant):
        """The catalog (or one `product`) as Backstage catalog-info.yaml"""
        item = _product(tenant, query["product"]) if query["product"] else None
        return Response(services.export_catalog(tenant, item), mimetype="application/yaml")
