"""REST schemas of BPR: input and output kept apart."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from taiji.platform import tenancy


def _file_url(row) -> str:
    from .services import file_url

    return file_url(tenancy.current(), row.repository, row)


def _repository_url(repository) -> str:
    from .services import repository_url

    return repository_url(tenancy.current(), repository)


KINDS = ["generic", "pypi"]
VISIBILITIES = ["private", "public"]

_keep_last = fields.Integer(
    allow_none=True,
    strict=True,
    validate=validate.Range(min=1, max=10000),
    metadata={"description": "Keep the last N versions of each package (none: no rule)"},
)
_max_age = fields.Integer(
    allow_none=True,
    strict=True,
    validate=validate.Range(min=1, max=36500),
    metadata={"description": "Delete files older than D days (none: no rule)"},
)


class BprRepositoryPatchIn(Schema):
    description = fields.String(validate=validate.Length(max=5000))
    immutable = fields.Boolean(metadata={"description": "Generic: a path once written is never replaced"})
    visibility = fields.String(
        validate=validate.OneOf(VISIBILITIES),
        metadata={"description": "public: anyone may download, without signing in"},
    )
    keep_last = _keep_last
    max_age_days = _max_age


class BprRepositoryIn(BprRepositoryPatchIn):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))


class BprRepositoryOut(Schema):
    name = fields.String()
    kind = fields.String()
    description = fields.String()
    immutable = fields.Boolean()
    visibility = fields.String()
    keep_last = fields.Integer(allow_none=True)
    max_age_days = fields.Integer(allow_none=True)
    size_bytes = fields.Integer()
    file_count = fields.Integer()
    url = fields.Function(_repository_url, metadata={"description": "Where clients upload and download"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class BprRepositoryQueryIn(Schema):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    q = fields.String(load_default=None, validate=validate.Length(max=100))


class BprFileOut(Schema):
    id = fields.Integer()
    path = fields.String()
    filename = fields.String()
    package = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    size = fields.Integer()
    sha256 = fields.String()
    blake2_256 = fields.String(allow_none=True)
    content_type = fields.String()
    uploaded_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    yanked = fields.Boolean()
    yank_reason = fields.String(allow_none=True)
    requires_python = fields.String(allow_none=True)
    url = fields.Function(_file_url)


class BprFileQueryIn(Schema):
    q = fields.String(
        load_default=None, validate=validate.Length(max=200), metadata={"description": "Part of the path"}
    )
    package = fields.String(load_default=None, validate=validate.Length(max=200))


class BprPackageOut(Schema):
    name = fields.String()
    versions = fields.List(fields.String())
    latest = fields.String(allow_none=True)
    files = fields.Integer()
    size = fields.Integer()
    updated_at = fields.DateTime()


class BprPackageQueryIn(Schema):
    q = fields.String(load_default=None, validate=validate.Length(max=200))


class BprYankIn(Schema):
    yanked = fields.Boolean(load_default=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class BprRetentionItemOut(Schema):
    file = fields.Nested(BprFileOut)
    reason = fields.String()


class BprRetentionOut(Schema):
    applied = fields.Boolean()
    keep_last = fields.Integer(allow_none=True)
    max_age_days = fields.Integer(allow_none=True)
    files = fields.List(fields.Nested(BprRetentionItemOut))
    bytes = fields.Integer()
