"""REST schemas of VCS: input and output kept apart."""

from __future__ import annotations

from marshmallow import Schema, fields, pre_dump, validate

from .models import KINDS, VISIBILITIES

_name = fields.String(required=True, validate=validate.Length(min=1, max=63),
                      metadata={"description": "Lowercase letters, digits, '.', '_', '-'; "
                                               "not ending in '.git'"})
_component = fields.String(allow_none=True, validate=validate.Length(max=130),
                           metadata={"description": "An SPM component as 'product/component'"})


class ExternalIn(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(["github", "gitlab", "gitea", "git"]))
    url = fields.String(required=True, validate=validate.Length(min=1, max=500))
    mirror = fields.Boolean()
    mirror_interval_s = fields.Integer(strict=True, validate=validate.Range(min=60, max=604800),
                                       metadata={"description": "Seconds between mirror fetches "
                                                                "(default 300)"})
    username = fields.String(validate=validate.Length(max=255))
    password = fields.String(validate=validate.Length(max=2000), load_only=True,
                             metadata={"description": "Password or access token the mirror fetches "
                                                      "with; stored encrypted, never shown"})


class ExternalPatchIn(Schema):
    provider = fields.String(validate=validate.OneOf(["github", "gitlab", "gitea", "git"]))
    url = fields.String(validate=validate.Length(min=1, max=500))
    mirror = fields.Boolean()
    mirror_interval_s = fields.Integer(strict=True, validate=validate.Range(min=60, max=604800))
    username = fields.String(validate=validate.Length(max=255))
    password = fields.String(validate=validate.Length(min=1, max=2000), load_only=True,
                             metadata={"description": "New mirror credentials (with username)"})
    clear_credentials = fields.Boolean(load_only=True,
                                       metadata={"description": "Forget the mirror credentials"})


class ExternalOut(Schema):
    provider = fields.String()
    url = fields.String()
    mirror = fields.Boolean()
    mirror_interval_s = fields.Integer()
    last_fetched_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    webhook_url = fields.Method("_webhook_url")

    def _webhook_url(self, source) -> str:
        from .services import external

        return external.webhook_url(source)


class WebhookSecretOut(Schema):
    webhook_url = fields.String()
    webhook_secret = fields.String(metadata={"description": "Shown this once"})


class RepositoryIn(Schema):
    name = _name
    description = fields.String(validate=validate.Length(max=5000))
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    component = _component
    external = fields.Nested(ExternalIn, metadata={"description": "Register an external repository instead"})


class RepositoryPatchIn(Schema):
    description = fields.String(validate=validate.Length(max=5000))
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES),
                               metadata={"description": "Needs vcs:repository:admin"})
    default_branch = fields.String(validate=validate.Length(min=1, max=200))
    component = _component


class RepositoryQueryIn(Schema):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    name = fields.String(load_default=None, validate=validate.Length(max=63),
                         metadata={"description": "Part of the name"})
    deleted = fields.Boolean(load_default=False,
                             metadata={"description": "List deleted repositories awaiting purge"})


class RepositoryOut(Schema):
    name = fields.String()
    description = fields.String()
    kind = fields.String()
    visibility = fields.String()
    default_branch = fields.String()
    component = fields.String(attribute="component_ref", allow_none=True)
    size_bytes = fields.Integer()
    clone_url = fields.Method("_clone_url")
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    deleted_at = fields.DateTime(allow_none=True)
    webhook_url = fields.String(dump_only=True,
                                metadata={"description": "External repositories, on creation"})
    webhook_secret = fields.String(dump_only=True, metadata={"description": "Shown once, on creation"})
    external = fields.Nested(ExternalOut, attribute="external_source", allow_none=True,
                             metadata={"description": "Where an external repository lives and how its "
                                                      "mirror fares; null for a hosted one"})

    @pre_dump
    def _attach_source(self, repo, **_):
        # Looked up here, not mapped on the model: hosted repositories (most of them) cost no query.
        source = None
        if repo.kind == "external":
            from .services import external

            source = external.source_of(repo)
        repo.external_source = source
        return repo

    def _clone_url(self, repo) -> str:
        from .services import http_url

        if repo.kind == "external":  # Taiji serves only hosted repositories over Git HTTP
            from .services import external

            return external.remote_url(repo)
        return http_url(repo)


class _MergeRulesIn(Schema):
    """A protected branch's merge rules, the same whether a rule is made or changed."""

    required_approvals = fields.Integer(strict=True, validate=validate.Range(min=0, max=20),
                                        metadata={"description": "Approvals a merge request into "
                                                                 "these branches needs (not the author's)"})
    approval_roles = fields.List(fields.String(validate=validate.Length(min=1, max=63)),
                                 validate=validate.Length(max=20),
                                 metadata={"description": "Tenant role keys whose approvals count; empty: "
                                                          "anyone with write"})
    reset_approvals_on_push = fields.Boolean(metadata={"description": "A push to the source voids approvals"})
    merge_methods = fields.List(fields.String(validate=validate.OneOf(["merge", "squash", "ff"])),
                                validate=validate.Length(max=3),
                                metadata={"description": "Allowed merge methods; empty: all"})
    require_merge_request = fields.Boolean(metadata={"description": "Refuse direct pushes: changes land "
                                                                    "through merge requests"})
    require_green_pipeline = fields.Boolean(metadata={"description": "Merge only when the source head's "
                                                                     "pipeline succeeded"})


class ProtectedBranchIn(_MergeRulesIn):
    pattern = fields.String(required=True, validate=validate.Length(min=1, max=200),
                            metadata={"description": "A branch name or an fnmatch pattern: main, release/*"})
    allow_force_push = fields.Boolean(load_default=False)
    allow_deletion = fields.Boolean(load_default=False)
    push_roles = fields.List(fields.String(validate=validate.Length(min=1, max=63)),
                             validate=validate.Length(max=20), load_default=list,
                             metadata={"description": "Tenant role keys allowed to push; "
                                                      "empty: anyone with write"})


class ProtectedBranchPatchIn(_MergeRulesIn):
    pattern = fields.String(validate=validate.Length(min=1, max=200))
    allow_force_push = fields.Boolean()
    allow_deletion = fields.Boolean()
    push_roles = fields.List(fields.String(validate=validate.Length(min=1, max=63)),
                             validate=validate.Length(max=20))


class ProtectedBranchOut(Schema):
    id = fields.Integer()
    pattern = fields.String()
    allow_force_push = fields.Boolean()
    allow_deletion = fields.Boolean()
    push_roles = fields.List(fields.String())
    required_approvals = fields.Integer()
    approval_roles = fields.List(fields.String())
    reset_approvals_on_push = fields.Boolean()
    merge_methods = fields.List(fields.String())
    require_merge_request = fields.Boolean()
    require_green_pipeline = fields.Boolean()
    created_at = fields.DateTime()


class CommitQueryIn(Schema):
    ref = fields.String(load_default=None, validate=validate.Length(min=1, max=255),
                        metadata={"description": "Branch, tag or commit; the default branch when absent"})


class AuthorOut(Schema):
    name = fields.String()
    email = fields.String()


class CommitOut(Schema):
    id = fields.String()
    message = fields.String()
    author = fields.Nested(AuthorOut)
    timestamp = fields.String()


class RefOut(Schema):
    name = fields.String()
    commit = fields.String()
    default = fields.Boolean()


class RefsOut(Schema):
    branches = fields.List(fields.Nested(RefOut))
    tags = fields.List(fields.Nested(RefOut))
