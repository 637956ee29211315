"""SCM REST routes, part one: components with configuration, items of the draft, the resolved
draft, the diff against the current release, secrets revealed, import and export.

``<component>`` is an SPM component's name, or ``product:name`` when two products have one of that
name (409 otherwise); ``<environment>`` a profile name (dev, prod …).
"""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.errors import NotFound, msg

from . import services
from .permissions import Perm
from .schemas import (
    ScmChangeOut,
    ScmConfigComponentOut,
    ScmDraftOut,
    ScmExportIn,
    ScmImportIn,
    ScmImportReportOut,
    ScmItemIn,
    ScmItemOut,
    ScmItemWhereIn,
    ScmLabelsIn,
    ScmSecretOut,
)
from .services import names, values

blp = Blueprint(
    "scm_api",
    __name__,
    url_prefix="/api/v1",
    description="Configuration: layered items and secrets, releases, gray, policies, schemas, access keys",
)

T = "/tenants/<tenant>"
C = T + "/config/<component>/<environment>"
EXPORT_TYPES = {"env": "text/plain", "json": "application/json", "yaml": "application/yaml",
                "properties": "text/plain"}


@blp.before_request
def _resolve_path_first():
    """Look up the component, environment, release and access key a URL names before the body is
    read, so that a name this tenant does not have is a 404 whatever was sent."""
    resolve_path(request.view_args or {})


def resolve_path(args: dict) -> None:
    tenant = tenancy.current()
    if tenant is None or auth.current_principal() is None:
        return
    component = services.resolve_component(tenant, args["component"]) if "component" in args else None
    if "environment" in args and not names.ENVIRONMENT.match(args["environment"] or ""):
        raise NotFound(msg("No environment '%(environment)s': environments are profile names such as dev.",
                           environment=args["environment"]))
    if component is not None and "release_number" in args:
        services.get_release(tenant, component, args["environment"], args["release_number"])
    if "access_key_id" in args:
        services.get_access_key(tenant, args["access_key_id"])


def _where(query: dict) -> dict:
    return {"namespace": query["namespace"], "layer": query["layer"], "label": query["label"]}


@blp.route(T + "/config")
class Configured(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmConfigComponentOut(many=True))
    @blp.paginate()
    def get(self, tenant, pagination_parameters):
        """Components of the tenant that have configuration"""
        page = services.list_configured(tenant, pagination_parameters.page, pagination_parameters.page_size)
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(C + "/items/<config_key>")
class ItemView(MethodView):
    @auth.require(Perm.CONFIG_WRITE)
    @blp.arguments(ScmItemIn)
    @blp.response(200, ScmItemOut)
    def put(self, data, tenant, component, environment, config_key):
        """Set an item of the draft in a layer (tenant, product, component, environment, or label with a
        selector); the value is checked against its type, a secret is sealed"""
        return services.put_item(tenant, auth.current_principal(), component, environment, config_key, **data)

    @auth.require(Perm.CONFIG_WRITE)
    @blp.arguments(ScmItemWhereIn, location="query")
    @blp.response(204)
    def delete(self, query, tenant, component, environment, config_key):
        """Delete an item of the draft (`namespace`, `layer`, `label` say which)"""
        services.delete_item(tenant, auth.current_principal(), component, environment, config_key,
                             **_where(query))


@blp.route(C + "/items/<config_key>/secret")
class SecretView(MethodView):
    @auth.require(Perm.SECRET_READ)
    @blp.arguments(ScmItemWhereIn, location="query")
    @blp.response(200, ScmSecretOut)
    def get(self, query, tenant, component, environment, config_key):
        """Reveal an item's value (audited)"""
        value = services.reveal_secret(tenant, auth.current_principal(), component, environment, config_key,
                                       **_where(query))
        return {"key": config_key, "value": value}


def _resolved_rows(resolved) -> tuple[list, list]:
    items = [
        {"namespace": ns, "key": key, "value": v.value, "type": v.type, "secret": v.secret,
         "masked": v.masked, "layer": v.layer, "label": v.selector, "description": v.description}
        for ns, keys in resolved.namespaces.items() for key, v in keys.items()
    ]
    overrides = [
        {"namespace": e["namespace"], "key": e["key"], "type": e["type"], "secret": e["secret"],
         "masked": bool(e["secret"]), "layer": "label", "label": e["selector"],
         "description": e["description"],
         "value": None if e["secret"] else values.plain(e["value"], None)}
        for e in resolved.overrides
    ]
    return items, overrides


@blp.route(C + "/draft")
class DraftView(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.arguments(ScmLabelsIn, location="query")
    @blp.response(200, ScmDraftOut)
    def get(self, query, tenant, component, environment):
        """The resolved draft: each key's effective value (secrets masked) and the layer it comes from"""
        found = services.resolve_component(tenant, component)
        resolved = services.draft(tenant, found, environment, labels=query["labels"])
        items, overrides = _resolved_rows(resolved)
        return {"component": found.name, "environment": environment, "items": items, "overrides": overrides}


@blp.route(C + "/diff")
class DiffView(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.response(200, ScmChangeOut(many=True))
    def get(self, tenant, component, environment):
        """What publishing the draft would change against the current release (secrets masked)"""
        return services.diff(tenant, component, environment)


@blp.route(C + "/export")
class ExportView(MethodView):
    @auth.require(Perm.CONFIG_READ)
    @blp.arguments(ScmExportIn, location="query")
    @blp.response(200, content_type="application/yaml")
    def get(self, query, tenant, component, environment):
        """A namespace of one layer as yaml, json, properties or env (secrets left out)"""
        text = services.export_namespace(tenant, component, environment, query["namespace"], query["format"],
                                         layer=query["layer"])
        return Response(text, mimetype=EXPORT_TYPES[query["format"]])


@blp.route(C + "/import")
class ImportView(MethodView):
    @auth.require(Perm.CONFIG_WRITE)
    @blp.arguments(ScmImportIn, location="query")
    @blp.doc(requestBody={"required": True, "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string", "description": "A .properties or JSON file"}}}})
    @blp.response(200, ScmImportReportOut)
    def post(self, query, tenant, component, environment):
        """Set the environment layer's items of a namespace from a yaml, json or properties file (the body);
        all or nothing; `dry_run` only reports"""
        text = request.get_data(as_text=True)
        return services.import_namespace(tenant, auth.current_principal(), component, environment,
                                         query["namespace"], query["format"], text, dry_run=query["dry_run"])
