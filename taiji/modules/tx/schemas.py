"""REST schemas of the transaction API: what a caller submits and what it reads back."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from taiji.platform.tx.models import KINDS, STATES

OPERATIONS = ("retry", "stop", "forward", "compensate", "skip")
_url = fields.String(validate=validate.Length(max=2000), allow_none=True)


_LOCAL = fields.String(load_default=None, validate=validate.Length(max=200), metadata={
    "description": "A module's registered step offered to tenants ('<module>.<step>'), in place of the "
                   "URLs; a URL field may also name one as 'local:<module>.<step>'"})


class StepIn(Schema):
    name = fields.String(required=True)
    action = fields.String(load_default=None, validate=validate.Length(max=2000),
                           metadata={"description": "The participant's URL, or 'local:<module>.<step>'"})
    local = _LOCAL
    compensate = _url
    payload = fields.Dict(load_default=None, allow_none=True)
    depends_on = fields.List(fields.String(), load_default=None, allow_none=True,
                             metadata={"description": "Steps this one waits for (a DAG); omit to run after "
                                                      "the previous step, [] for a root."})


class BranchIn(Schema):
    name = fields.String(required=True)
    try_ = fields.String(load_default=None, data_key="try", validate=validate.Length(max=2000))
    local = _LOCAL
    confirm = _url
    cancel = _url
    payload = fields.Dict(load_default=None, allow_none=True)


class _TransactionIn(Schema):
    gid = fields.String(load_default=None, metadata={"description": "Your id for it; submitting the same "
                                                                   "gid and steps again returns it"})
    business_key = fields.String(load_default=None, validate=validate.Length(max=255))
    options = fields.Dict(load_default=None, metadata={
        "description": "action_retries, retries, redo_retries, backoff, backoff_factor, backoff_max, "
                       "redo_backoff, timeout (seconds)"})


class SagaIn(_TransactionIn):
    steps = fields.List(fields.Nested(StepIn), required=True)


class TccIn(_TransactionIn):
    branches = fields.List(fields.Nested(BranchIn), required=True)


class TransactionQueryIn(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    business_key = fields.String(load_default=None, validate=validate.Length(max=255))
    older_than_minutes = fields.Integer(load_default=None, validate=validate.Range(min=0, max=60 * 24 * 3650))


class ActionIn(Schema):
    class Meta:
        # Other fields are ignored, so the transaction is looked up (404) before any body is judged.
        unknown = EXCLUDE

    step = fields.String(load_default=None, metadata={"description": "The step (skip: required; forward: "
                                                                    "optional)"})
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class BranchOut(Schema):
    name = fields.String()
    position = fields.Integer()
    state = fields.String()
    attempts = fields.Integer()
    depends_on = fields.List(fields.String(), allow_none=True)
    action = fields.String(attribute="action_url", allow_none=True)
    compensate = fields.String(attribute="compensate_url", allow_none=True)
    try_ = fields.String(attribute="try_url", data_key="try", allow_none=True)
    confirm = fields.String(attribute="confirm_url", allow_none=True)
    cancel = fields.String(attribute="cancel_url", allow_none=True)


class CallOut(Schema):
    branch = fields.String(attribute="branch_name")
    op = fields.String()
    attempt = fields.Integer()
    url = fields.String()
    request_summary = fields.String(allow_none=True)
    status_code = fields.Integer(allow_none=True)
    response_summary = fields.String(allow_none=True)
    result = fields.String(allow_none=True,
                           metadata={"description": "OK, FAIL, UNKNOWN; null while in flight"})
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class TransactionOut(Schema):
    gid = fields.String()
    kind = fields.String()
    state = fields.String()
    phase = fields.String()
    business_key = fields.String(allow_none=True)
    options = fields.Dict()
    redo_count = fields.Integer()
    last_error = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    steps = fields.List(fields.Nested(BranchOut), attribute="branches")


class TransactionDetailOut(TransactionOut):
    timeline = fields.List(fields.Nested(CallOut))


class NotificationIn(Schema):
    url = fields.String(required=True, validate=validate.Length(max=2000))
    body = fields.Dict(load_default=None)
    secret = fields.String(required=True, validate=validate.Length(min=16, max=200),
                           metadata={"description": "Shared with the receiver; signs every POST"})
    ack = fields.String(load_default="SUCCESS", validate=validate.Length(min=1, max=200))
    schedule = fields.List(fields.Float(), load_default=None,
                           metadata={"description": "Seconds between attempts; default 15s, 15s, 30s, 3m, "
                                                    "10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h"})
    nid = fields.String(load_default=None, validate=validate.Length(min=1, max=64))


class NotificationOut(Schema):
    nid = fields.String()
    url = fields.String()
    state = fields.String(metadata={"description": "pending, delivered, given_up or stopped"})
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    schedule = fields.List(fields.Float())
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_response = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class MessageIn(Schema):
    topic = fields.String(required=True, metadata={"description": "Published as event tx.message.<topic>"})
    payload = fields.Dict(load_default=None)
    check_url = fields.String(load_default=None, validate=validate.Length(max=2000),
                              metadata={"description": "Asked with POST ?mid=… when the message stays "
                                                       "prepared; answers {\"result\": \"committed\"} "
                                                       "or {\"result\": \"rolled_back\"}"})
    mid = fields.String(load_default=None, validate=validate.Length(min=1, max=64))


class MessageOut(Schema):
    mid = fields.String()
    topic = fields.String()
    state = fields.String(metadata={"description": "prepared, submitted or aborted"})
    checks = fields.Integer()
    next_check_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class NotificationAttemptOut(Schema):
    number = fields.Integer()
    planned_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    status_code = fields.Integer(allow_none=True)
    response_summary = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    acknowledged = fields.Boolean()


class NotificationDetailOut(NotificationOut):
    attempt_log = fields.List(fields.Nested(NotificationAttemptOut),
                              metadata={"description": "Every attempt: planned and actual time, the answer"})


class MessageCheckOut(Schema):
    number = fields.Integer()
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True)
    answer = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class MessageDetailOut(MessageOut):
    payload = fields.Dict()
    check_url = fields.String(allow_none=True)
    check_log = fields.List(fields.Nested(MessageCheckOut),
                            metadata={"description": "Every check-back call and the participant's answer"})


class NotificationQueryIn(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(("pending", "delivered", "given_up",
                                                                      "stopped")))


class MessageQueryIn(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(("prepared", "submitted", "aborted")))
