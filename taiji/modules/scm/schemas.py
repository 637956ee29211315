"""REST schemas of SCM: input and output kept apart. Values travel as typed JSON; a secret's value
is never output (``"value": null, "masked": true``) except by the reveal route."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .models import LAYERS, TYPES
from .services import values

FORMATS = ["env", "json", "yaml", "properties"]
_MASKED = {"description": "True when the value is a secret's, left out"}


class ScmItemIn(Schema):
    value = fields.Raw(required=True, allow_none=True,
                       metadata={"description": "The typed value: 8, true, {\"a\": 1}, \"text\" (a text that "
                                                "spells the type is accepted: \"8\", \"true\", JSON text)"})
    type = fields.String(load_default="string", validate=validate.OneOf(TYPES))
    secret = fields.Boolean(load_default=False, metadata={"description": "Sealed at rest and masked"})
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    namespace = fields.String(load_default="application", validate=validate.Length(max=63))
    layer = fields.String(load_default="environment", validate=validate.OneOf(LAYERS))
    label = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255),
                          metadata={"description": "Selector of a label-layer item: zone=bj,tier in (a,b)"})


class ScmItemWhereIn(Schema):
    namespace = fields.String(load_default="application", validate=validate.Length(max=63))
    layer = fields.String(load_default="environment", validate=validate.OneOf(LAYERS))
    label = fields.String(load_default=None, validate=validate.Length(max=255))


def _item_value(item):
    return None if item.secret else values.plain(item.value, None)


class ScmItemOut(Schema):
    namespace = fields.String()
    key = fields.String()
    layer = fields.String()
    environment = fields.String(metadata={"description": "Empty in the tenant, product and component layers"})
    label = fields.String(attribute="selector")
    type = fields.String()
    value = fields.Function(_item_value)
    secret = fields.Boolean()
    masked = fields.Function(lambda item: bool(item.secret), metadata=_MASKED)
    description = fields.String()
    updated_at = fields.DateTime()
    updated_by = fields.String()


class ScmLabelsIn(Schema):
    labels = fields.String(load_default=None, validate=validate.Length(max=2000),
                           metadata={"description": "An instance's labels k=v,k2=v2: label items apply"})


class ScmResolvedItemOut(Schema):
    namespace = fields.String()
    key = fields.String()
    value = fields.Raw(allow_none=True)
    type = fields.String()
    secret = fields.Boolean()
    masked = fields.Boolean(metadata=_MASKED)
    layer = fields.String(metadata={"description": "The layer the effective value comes from"})
    label = fields.String(metadata={"description": "The selector of a label-layer value"})
    description = fields.String()


class ScmDraftOut(Schema):
    component = fields.String()
    environment = fields.String()
    items = fields.List(fields.Nested(ScmResolvedItemOut))
    overrides = fields.List(fields.Nested(ScmResolvedItemOut),
                            metadata={"description": "Label-layer items that did not apply"})


class ScmChangeOut(Schema):
    namespace = fields.String()
    key = fields.String()
    change = fields.String(metadata={"description": "added, changed or removed"})
    type = fields.String()
    secret = fields.Boolean()
    masked = fields.Function(lambda change: change.secret, metadata=_MASKED)
    old = fields.Raw(allow_none=True)
    new = fields.Raw(allow_none=True)
    old_layer = fields.String(allow_none=True)
    new_layer = fields.String(allow_none=True)
    label = fields.String(metadata={"description": "The selector of a label-layer item"})


class ScmGrayIn(Schema):
    selector = fields.String(load_default=None, validate=validate.Length(max=255))
    percentage = fields.Float(load_default=None, allow_nan=False)


class ScmReleaseIn(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))
    gray = fields.Nested(ScmGrayIn, load_default=None, allow_none=True,
                         metadata={"description": "Publish to some instances only: a label selector or a "
                                                  "percentage of instance ids"})


class ScmRollbackIn(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class ScmReleaseOut(Schema):
    number = fields.Integer()
    status = fields.String(metadata={"description": "pending, gray, published, abandoned or rejected"})
    current = fields.Boolean(metadata={"description": "The release instances get (unless gray selects them)"})
    component = fields.String()
    product = fields.String()
    environment = fields.String()
    comment = fields.String()
    author = fields.String()
    reviewer = fields.String(allow_none=True)
    gray = fields.Dict(allow_none=True)
    rolled_back_from = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class ScmSnapshotItemOut(Schema):
    layer = fields.String()
    namespace = fields.String()
    key = fields.String()
    label = fields.String(attribute="selector")
    type = fields.String()
    value = fields.Function(lambda e: None if e["secret"] else values.plain(e["value"], None))
    secret = fields.Boolean()
    masked = fields.Function(lambda e: bool(e["secret"]), metadata=_MASKED)
    description = fields.String()


class ScmInstanceOut(Schema):
    instance = fields.String()
    labels = fields.Dict()
    release = fields.Integer(attribute="release_number", allow_none=True)
    first_seen = fields.DateTime()
    last_seen = fields.DateTime()


class ScmReleaseDetailOut(ScmReleaseOut):
    items = fields.Function(lambda r: ScmSnapshotItemOut(many=True).dump(r.snapshot))
    instances = fields.List(fields.Nested(ScmInstanceOut),
                            metadata={"description": "Instances that hold this release"})


def _history_value(which):
    def get(entry):
        text = getattr(entry, which)
        return None if text is None else values.decode(text)
    return get


class ScmHistoryOut(Schema):
    created_at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    layer = fields.String()
    environment = fields.String()
    label = fields.String(attribute="selector")
    namespace = fields.String()
    key = fields.String()
    secret = fields.Boolean(metadata={"description": "A secret changed: its values are not shown"})
    old = fields.Function(_history_value("old_value"))
    new = fields.Function(_history_value("new_value"))
    release = fields.Integer(attribute="release_number", allow_none=True)
    detail = fields.Dict()


class ScmExportIn(Schema):
    namespace = fields.String(load_default="application", validate=validate.Length(max=63))
    format = fields.String(load_default="yaml", validate=validate.OneOf(FORMATS))
    layer = fields.String(load_default="environment", validate=validate.OneOf(LAYERS))


class ScmImportIn(Schema):
    namespace = fields.String(load_default="application", validate=validate.Length(max=63))
    format = fields.String(load_default="yaml", validate=validate.OneOf(["json", "yaml", "properties"]))
    dry_run = fields.Boolean(load_default=False)


class ScmImportReportOut(Schema):
    added = fields.List(fields.String())
    changed = fields.List(fields.String())
    unchanged = fields.List(fields.String())
    dry_run = fields.Boolean()


class ScmSchemaIO(Schema):
    schema = fields.Dict(required=True, allow_none=True,
                         metadata={"description": "A JSON Schema (Draft 2020-12) of the resolved "
                                                  "`application` namespace, or null"})


class ScmPolicyIn(Schema):
    four_eyes = fields.Boolean(required=True)


class ScmPolicyOut(Schema):
    environment = fields.String()
    four_eyes = fields.Boolean()
    updated_at = fields.DateTime()
    updated_by = fields.String()


class ScmAccessKeyIn(Schema):
    environment = fields.String(required=True, validate=validate.Length(min=1, max=32))
    description = fields.String(load_default="", validate=validate.Length(max=255))


class ScmAccessKeyOut(Schema):
    id = fields.Integer()
    environment = fields.String()
    description = fields.String()
    created_at = fields.DateTime()
    created_by = fields.String()
    last_used_at = fields.DateTime(allow_none=True, metadata={
        "description": "When a client last read with the key (written at most once a minute per server "
                       "process)"})


class ScmAccessKeyCreatedOut(ScmAccessKeyOut):
    token = fields.String(metadata={"description": "Shown once: tjc_<id>_<secret>"})


class ScmConfigComponentOut(Schema):
    component = fields.String(attribute="name")
    product = fields.String()
    ref = fields.Function(lambda row: f"{row.product}:{row.name}",
                          metadata={"description": "product:component, unambiguous in the tenant"})
    has_schema = fields.Function(lambda row: row.json_schema is not None)
    created_at = fields.DateTime()


class ScmSecretOut(Schema):
    key = fields.String()
    value = fields.String(metadata={"description": "The text (JSON for a non-text type)"})
