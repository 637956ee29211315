"""REST schemas of SPM: input and output kept apart."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

LIFECYCLES = ["experimental", "production", "deprecated"]
KINDS = ["service", "frontend", "library", "job", "database"]
API_TYPES = ["rest", "grpc", "event"]
STATUSES = ["draft", "released", "deprecated", "retired"]

_labels = fields.List(fields.String(validate=validate.Length(max=100)), validate=validate.Length(max=30))


class ProductIn(Schema):
    slug = fields.String(required=True, validate=validate.Length(min=1, max=63))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=5000))
    lifecycle = fields.String(validate=validate.OneOf(LIFECYCLES))
    owners = _labels
    tags = _labels


class ProductPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=5000))
    lifecycle = fields.String(validate=validate.OneOf(LIFECYCLES))
    owners = _labels
    tags = _labels


class ProductOut(Schema):
    slug = fields.String()
    name = fields.String()
    description = fields.String()
    lifecycle = fields.String()
    owners = fields.List(fields.String())
    tags = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProductQueryIn(Schema):
    q = fields.String(load_default=None, metadata={"description": "Part of the slug, name or description"})
    tag = fields.String(load_default=None)
    owner = fields.String(load_default=None)
    lifecycle = fields.String(load_default=None, validate=validate.OneOf(LIFECYCLES))
    layer = fields.String(
        load_default=None, metadata={"description": "Products with a component in this layer"}
    )


class ApiRefSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=63))
    type = fields.String(load_default="rest", validate=validate.OneOf(API_TYPES))
    version = fields.String(load_default="v1", validate=validate.Length(min=1, max=30))


class ComponentPatchIn(Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    layer = fields.String(
        allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "One of the tenant's layers (see /catalog/rules)"},
    )
    owner = fields.String(validate=validate.Length(max=255))
    description = fields.String(validate=validate.Length(max=5000))
    lifecycle = fields.String(validate=validate.OneOf(LIFECYCLES))
    version = fields.String(
        validate=validate.Length(min=1, max=50),
        metadata={"description": "The component's current semantic version"},
    )
    repository_url = fields.String(allow_none=True, validate=validate.Length(max=500))
    owns_database = fields.String(allow_none=True, validate=validate.Length(max=63))
    tags = _labels
    provides = fields.List(fields.Nested(ApiRefSchema), validate=validate.Length(max=100))
    consumes = fields.List(fields.Nested(ApiRefSchema), validate=validate.Length(max=100))


class ComponentIn(ComponentPatchIn):
    name = fields.String(required=True, validate=validate.Length(min=1, max=63))


def _apis(direction):
    def get(component):
        return [
            {"name": a.name, "type": a.type, "version": a.version}
            for a in component.apis
            if a.direction == direction
        ]

    return get


class ComponentOut(Schema):
    name = fields.String()
    ref = fields.String(metadata={"description": "product/component, unique in the tenant"})
    product = fields.Function(lambda c: c.product.slug)
    kind = fields.String()
    layer = fields.String(allow_none=True)
    owner = fields.String()
    description = fields.String()
    lifecycle = fields.String()
    version = fields.String()
    repository_url = fields.String(allow_none=True)
    owns_database = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    provides = fields.Function(_apis("provides"))
    consumes = fields.Function(_apis("consumes"))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ComponentQueryIn(Schema):
    q = fields.String(load_default=None)
    layer = fields.String(load_default=None)
    owner = fields.String(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    tag = fields.String(load_default=None)
    lifecycle = fields.String(load_default=None, validate=validate.OneOf(LIFECYCLES))


class DependencyIn(Schema):
    component = fields.String(
        validate=validate.Length(min=1, max=130),
        metadata={"description": "The component depended on: 'name' in this product or 'product/name'"},
    )
    name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "A third-party product (instead of component)"},
    )
    version_range = fields.String(load_default="*", validate=validate.Length(min=1, max=100))
    license = fields.String(allow_none=True, validate=validate.Length(max=200))
    purl = fields.String(allow_none=True, validate=validate.Length(max=500))


class DependencyPatchIn(Schema):
    version_range = fields.String(validate=validate.Length(min=1, max=100))
    license = fields.String(allow_none=True, validate=validate.Length(max=200))
    purl = fields.String(allow_none=True, validate=validate.Length(max=500))


class DependencyOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "component or third-party"})
    source = fields.Function(lambda d: d.source.ref)
    component = fields.Function(lambda d: d.target.ref if d.target is not None else None)
    name = fields.String(allow_none=True)
    version_range = fields.String()
    license = fields.String(allow_none=True)
    purl = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ViolationOut(Schema):
    rule = fields.String()
    severity = fields.String()
    components = fields.List(fields.String())
    message = fields.String()
    edges = fields.List(fields.List(fields.String()))


class ViolationQueryIn(Schema):
    severity = fields.String(load_default=None, validate=validate.OneOf(["error", "warning"]))


class GraphQueryIn(Schema):
    focus = fields.String(
        load_default=None, metadata={"description": "Keep one component and its neighbours"}
    )


class RelatedQueryIn(Schema):
    max_depth = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Stop the walk this many edges away (1 = direct only)"},
    )


class RelatedOut(Schema):
    component = fields.String()
    product = fields.String()
    layer = fields.String(allow_none=True)
    kind = fields.String()
    depth = fields.Integer(metadata={"description": "1 for a direct dependency"})


class RetirementOut(Schema):
    component = fields.String()
    api = fields.String()
    version = fields.String()
    broken = fields.List(fields.String(), metadata={"description": "Direct consumers of the API version"})
    affected = fields.List(fields.Nested(RelatedOut))


class VersionIn(Schema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=50))
    notes = fields.String(load_default="", validate=validate.Length(max=10000))


class VersionPatchIn(Schema):
    notes = fields.String(required=True, validate=validate.Length(max=10000))


class VersionOut(Schema):
    version = fields.String()
    status = fields.String()
    notes = fields.String()
    released_at = fields.DateTime(allow_none=True)
    released_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VersionDetailOut(VersionOut):
    contents = fields.Dict(metadata={"description": "Components and dependencies; frozen once released"})


class VersionQueryIn(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class RulesIn(Schema):
    layers = fields.List(
        fields.String(validate=validate.Length(min=1, max=50)),
        validate=validate.Length(min=1, max=12),
        metadata={"description": "Highest layer first"},
    )
    severities = fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.OneOf(["error", "warning"]))
    )


class RulesOut(Schema):
    layers = fields.List(fields.String())
    severities = fields.Dict(keys=fields.String(), values=fields.String())
    rules = fields.Dict(keys=fields.String(), values=fields.String())


class ImportReportOut(Schema):
    created = fields.List(fields.String())
    updated = fields.List(fields.String())
    unchanged = fields.List(fields.String())
    rejected = fields.List(fields.Dict())


class ExportQueryIn(Schema):
    product = fields.String(load_default=None)
