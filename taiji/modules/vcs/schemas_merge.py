"""REST schemas of merge requests and commit statuses."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .models_merge import METHODS, SIDES

_branch = fields.String(validate=validate.Length(min=1, max=200))


class MergeRequestQueryIn(Schema):
    state = fields.String(load_default="open", validate=validate.OneOf(["open", "closed", "merged", "all"]))


class MergeRequestIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=255))
    description = fields.String(load_default="", validate=validate.Length(max=65536),
                                metadata={"description": "Markdown"})
    source_branch = fields.String(required=True, validate=validate.Length(min=1, max=200))
    target_branch = fields.String(validate=validate.Length(min=1, max=200),
                                  metadata={"description": "The default branch when absent"})
    draft = fields.Boolean(load_default=False)


class MergeRequestPatchIn(Schema):
    title = fields.String(validate=validate.Length(min=1, max=255))
    description = fields.String(validate=validate.Length(max=65536))
    draft = fields.Boolean()
    state = fields.String(validate=validate.OneOf(["open", "closed"]),
                          metadata={"description": "closed closes, open reopens"})


class MergeRequestOut(Schema):
    id = fields.Integer()
    number = fields.Integer()
    reference = fields.String()
    title = fields.String()
    description = fields.String()
    source_branch = fields.String()
    target_branch = fields.String()
    state = fields.String()
    draft = fields.Boolean()
    author_id = fields.Integer(allow_none=True)
    author_name = fields.String()
    head_sha = fields.String(allow_none=True)
    base_sha = fields.String(allow_none=True)
    merge_sha = fields.String(allow_none=True)
    merge_method = fields.String(allow_none=True)
    merged_by = fields.String(allow_none=True)
    merged_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class VcsPipelineStatusOut(Schema):
    sha = fields.String()
    status = fields.String()
    pipeline = fields.Integer()
    number = fields.Integer()
    ref = fields.String()
    updated_at = fields.DateTime()


class MergeRequestApprovalOut(Schema):
    user_id = fields.Integer()
    user_name = fields.String()
    sha = fields.String()
    created_at = fields.DateTime()
    counted = fields.Boolean()
    why = fields.String(allow_none=True, metadata={"description": "Why it does not count: author, role, "
                                                                  "stale (a push came after it)"})


class MergeRequestApprovalsOut(Schema):
    required = fields.Integer()
    count = fields.Integer()
    roles = fields.List(fields.String())
    approvals = fields.List(fields.Nested(MergeRequestApprovalOut))


class MergeRequestMergeStatusOut(Schema):
    mergeable = fields.Boolean()
    reasons = fields.List(fields.String(), metadata={"description": "Why it cannot be merged now"})
    conflicts = fields.List(fields.String(), metadata={"description": "Files that conflict"})
    methods = fields.List(fields.String(), metadata={"description": "Methods the target's protection allows"})
    fast_forward = fields.Boolean()
    source_sha = fields.String(allow_none=True)
    target_sha = fields.String(allow_none=True)
    pipeline = fields.Nested(VcsPipelineStatusOut, allow_none=True)
    approvals = fields.Nested(MergeRequestApprovalsOut)


class MergeRequestMergeIn(Schema):
    method = fields.String(load_default="merge", validate=validate.OneOf(METHODS))
    sha = fields.String(validate=validate.Regexp(r"^[0-9a-f]{40}$"),
                        metadata={"description": "The source head you reviewed; refused if it moved"})


class MergeRequestNoteIn(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=65536))
    path = fields.String(validate=validate.Length(min=1, max=1024),
                         metadata={"description": "An inline comment: the file of the diff"})
    line = fields.Integer(strict=True, validate=validate.Range(min=1))
    side = fields.String(validate=validate.OneOf(SIDES), metadata={"description": "old or new (default)"})
    reply_to = fields.Integer(strict=True, metadata={"description": "Reply in the thread of this comment"})


class MergeRequestNoteOut(Schema):
    id = fields.Integer()
    reply_to_id = fields.Integer(allow_none=True)
    author_id = fields.Integer(allow_none=True)
    author_name = fields.String()
    body = fields.String()
    path = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    side = fields.String(allow_none=True)
    commit_sha = fields.String(allow_none=True)
    resolved = fields.Boolean()
    resolved_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class MergeRequestThreadOut(Schema):
    id = fields.Function(lambda t: t.root.id)
    inline = fields.Boolean()
    resolved = fields.Function(lambda t: t.root.resolved)
    notes = fields.Function(lambda t: MergeRequestNoteOut(many=True).dump([t.root, *t.replies]))


class MergeRequestResolveIn(Schema):
    resolved = fields.Boolean(load_default=True)


class VcsCommitBriefOut(Schema):
    sha = fields.String()
    short = fields.String()
    summary = fields.String()
    message = fields.String()
    author = fields.String()
    author_email = fields.String()
    authored_at = fields.DateTime()
    parents = fields.List(fields.String())


class VcsDiffLineOut(Schema):
    kind = fields.String()
    old = fields.Integer(allow_none=True)
    new = fields.Integer(allow_none=True)
    text = fields.String()


class VcsFileDiffOut(Schema):
    old_path = fields.String(allow_none=True)
    new_path = fields.String(allow_none=True)
    status = fields.String()
    additions = fields.Integer()
    deletions = fields.Integer()
    binary = fields.Boolean()
    truncated = fields.Boolean()
    lines = fields.List(fields.Nested(VcsDiffLineOut))


class MergeRequestChangesOut(Schema):
    merge_base = fields.String(allow_none=True)
    additions = fields.Integer()
    deletions = fields.Integer()
    truncated = fields.Boolean()
    files = fields.List(fields.Nested(VcsFileDiffOut))


class CommitStatusQueryIn(Schema):
    sha = fields.List(fields.String(validate=validate.Regexp(r"^[0-9a-f]{40}$")), load_default=list,
                      validate=validate.Length(max=100), metadata={"description": "Full commit ids"})
