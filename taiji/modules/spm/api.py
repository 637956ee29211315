"""SPM REST routes, part one: products, components and dependencies."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from taiji.platform import auth, tenancy
from taiji.platform.api import Blueprint, set_page_count
from taiji.platform.readcache import cached_read

from . import services
from .permissions import Perm
from .schemas import (
    ComponentIn,
    ComponentOut,
    ComponentPatchIn,
    ComponentQueryIn,
    DependencyIn,
    DependencyOut,
    DependencyPatchIn,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    ProductQueryIn,
)

blp = Blueprint(
    "spm_api",
    __name__,
    url_prefix="/api/v1",
    description="Product catalog: products, components, dependencies, versions, rules, SBOM",
)

T = "/tenants/<tenant>"
P = T + "/products/<product>"
C = P + "/components/<component>"


@blp.before_request
def _resolve_path_first():
    """Look up the product, component, dependency and versions a URL names before the body or
    If-Match is checked, so that a name this tenant does not have is a 404 whatever was sent."""
    if request.method in ("GET", "HEAD") and not request.query_string:
        return  # nothing sent to check first; the view looks them up itself (a read cache hit: not at all)
    args = request.view_args or {}
    tenant = tenancy.current()
    if "product" not in args or tenant is None or auth.current_principal() is None:
        return
    product = services.get_product(tenant, args["product"])
    if "component" in args:
        component = services.get_component(tenant, product, args["component"])
        if "dependency_id" in args:
            services.get_dependency(component, args["dependency_id"])
    for key in ("version", "other"):
        if key in args:
            services.get_version(product, args[key])


def _product(tenant, slug):
    return services.get_product(tenant, slug)


def _component(tenant, product, name):
    return services.get_component(tenant, _product(tenant, product), name)


@blp.route(T + "/products")
class Products(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @cached_read
    @blp.arguments(ProductQueryIn, location="query")
    @blp.response(200, ProductOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """Products of the tenant; filter by text, tag, owner, lifecycle or layer"""
        page = services.list_products(
            tenant, **query, page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.arguments(ProductIn)
    @blp.response(201, ProductOut)
    def post(self, data, tenant):
        """Create a product (counts against the tenant's `products` quota)"""
        return services.create_product(tenant, data)


@blp.route(P)
class ProductItem(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @cached_read
    @blp.etag
    @blp.response(200, ProductOut)
    def get(self, tenant, product):
        """One product"""
        return _product(tenant, product)

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.arguments(ProductPatchIn)
    @blp.response(200, ProductOut)
    def patch(self, data, tenant, product):
        """Change a product; needs If-Match"""
        item = _product(tenant, product)
        blp.check_etag(item, ProductOut)
        return services.update_product(tenant, item, data)

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, product):
        """Delete a product and its components; refused while versions are in use or other products
        depend on it; needs If-Match"""
        item = _product(tenant, product)
        blp.check_etag(item, ProductOut)
        services.delete_product(tenant, item)


@blp.route(T + "/components")
class CatalogComponents(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(ComponentQueryIn, location="query")
    @blp.response(200, ComponentOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, pagination_parameters):
        """Search every component of the tenant by text, layer, owner, kind, tag or lifecycle"""
        page = services.list_components(
            tenant, None, **query, page=pagination_parameters.page, page_size=pagination_parameters.page_size
        )
        set_page_count(pagination_parameters, page)
        return page.items


@blp.route(P + "/components")
class Components(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.arguments(ComponentQueryIn, location="query")
    @blp.response(200, ComponentOut(many=True))
    @blp.paginate()
    def get(self, query, tenant, product, pagination_parameters):
        """Components of a product"""
        page = services.list_components(
            tenant,
            _product(tenant, product),
            **query,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        set_page_count(pagination_parameters, page)
        return page.items

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.arguments(ComponentIn)
    @blp.response(201, ComponentOut)
    def post(self, data, tenant, product):
        """Add a component; publishes spm.component.changed"""
        return services.create_component(tenant, _product(tenant, product), data)


@blp.route(C)
class ComponentItem(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.etag
    @blp.response(200, ComponentOut)
    def get(self, tenant, product, component):
        """One component"""
        return _component(tenant, product, component)

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.arguments(ComponentPatchIn)
    @blp.response(200, ComponentOut)
    def patch(self, data, tenant, product, component):
        """Change a component (lists of APIs are replaced whole); needs If-Match"""
        item = _component(tenant, product, component)
        blp.check_etag(item, ComponentOut)
        return services.update_component(tenant, item, data)

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, product, component):
        """Delete a component; refused while others depend on it; needs If-Match"""
        item = _component(tenant, product, component)
        blp.check_etag(item, ComponentOut)
        services.delete_component(tenant, item)


@blp.route(C + "/dependencies")
class Dependencies(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.response(200, DependencyOut(many=True))
    def get(self, tenant, product, component):
        """What the component depends on directly: components and third-party products"""
        return services.list_dependencies(_component(tenant, product, component))

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.arguments(DependencyIn)
    @blp.response(201, DependencyOut)
    def post(self, data, tenant, product, component):
        """Declare a dependency on a component (`component`) or a third-party product (`name`)"""
        return services.add_dependency(tenant, _component(tenant, product, component), data)


@blp.route(C + "/dependencies/<int:dependency_id>")
class DependencyItem(MethodView):
    @auth.require(Perm.PRODUCT_READ)
    @blp.etag
    @blp.response(200, DependencyOut)
    def get(self, tenant, product, component, dependency_id):
        """One dependency"""
        return services.get_dependency(_component(tenant, product, component), dependency_id)

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.arguments(DependencyPatchIn)
    @blp.response(200, DependencyOut)
    def patch(self, data, tenant, product, component, dependency_id):
        """Change a dependency's version range (and a third party's license or purl); needs If-Match"""
        item = services.get_dependency(_component(tenant, product, component), dependency_id)
        blp.check_etag(item, DependencyOut)
        return services.update_dependency(tenant, item, data)

    @auth.require(Perm.PRODUCT_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, tenant, product, component, dependency_id):
        """Remove a dependency; needs If-Match"""
        item = services.get_dependency(_component(tenant, product, component), dependency_id)
        blp.check_etag(item, DependencyOut)
        services.remove_dependency(tenant, item)
