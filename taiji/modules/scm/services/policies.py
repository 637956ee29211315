"""Per-environment policies (four-eyes publishing) and component schemas."""

from __future__ import annotations

import json

import sqlalchemy as sa

from taiji.platform import audit, jsonschema_lib
from taiji.platform.db import db, utcnow
from taiji.platform.errors import Conflict, Invalid, field_error, msg

from ..models import Policy
from . import names
from .components import find_registered, register, resolve_component
from .history import actor_name
from .storage import insert

MAX_SCHEMA_BYTES = 256 * 1024
MAX_SCHEMA_ERRORS = 50


def find_policy(tenant, environment: str) -> Policy | None:
    return db.session.execute(
        sa.select(Policy).where(Policy.tenant_id == tenant.id, Policy.environment == environment)
    ).scalar_one_or_none()


def four_eyes(tenant, environment: str) -> bool:
    policy = find_policy(tenant, environment)
    return bool(policy and policy.four_eyes)


def list_policies(tenant) -> list[Policy]:
    return list(db.session.execute(
        sa.select(Policy).where(Policy.tenant_id == tenant.id).order_by(Policy.environment)).scalars())


def set_policy(tenant, actor, environment, four_eyes: bool) -> Policy:
    environment = names.environment(environment)
    if not isinstance(four_eyes, bool):
        raise field_error("four_eyes", msg("four_eyes is true or false."))
    policy = find_policy(tenant, environment)
    if policy is not None and policy.four_eyes == four_eyes:
        return policy
    if policy is None:
        policy = Policy(tenant_id=tenant.id, environment=environment, four_eyes=four_eyes,
                        updated_by=actor_name(actor))
        if not insert(policy):
            raise Conflict(msg("The policy of %(environment)s was set meanwhile; send the change again.",
                               environment=environment))
    policy.four_eyes, policy.updated_by = four_eyes, actor_name(actor)
    db.session.flush()
    audit.record("scm.policy.updated", "config-policy", environment, tenant=tenant, actor=actor,
                 details={"four_eyes": four_eyes})
    return policy


def get_schema(tenant, component) -> dict | None:
    component = resolve_component(tenant, component)
    row = find_registered(tenant, component.id)
    return row.json_schema if row is not None else None


def set_schema(tenant, actor, component, schema: dict | None) -> dict | None:
    """Declare (or, with None, drop) the JSON Schema of ``component``'s resolved ``application``
    namespace; an invalid schema is a 422."""
    component = resolve_component(tenant, component)
    if schema is not None:
        if not isinstance(schema, dict):
            raise field_error("schema", msg("A schema is a JSON object."))
        if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
            raise field_error("schema", msg("The schema is larger than 256 KiB."))
        jsonschema = jsonschema_lib.load()  # a second of CPU to import: only when used
        Draft202012Validator, SchemaError = jsonschema.Draft202012Validator, jsonschema.SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            path = "/".join(str(p) for p in error.path) or "(root)"
            raise field_error("schema", msg("Not a valid JSON Schema at %(path)s: %(error)s", path=path,
                                            error=error.message[:300])) from None
    row = register(tenant, component)
    if row.json_schema == schema:
        return schema
    row.json_schema = schema
    row.schema_updated_at, row.schema_updated_by = utcnow(), actor_name(actor)
    db.session.flush()
    audit.record("scm.schema.updated" if schema is not None else "scm.schema.deleted", "config-schema",
                 component.ref, tenant=tenant, actor=actor)
    return schema


def json_path(parts) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_schema(tenant, component, document: dict, secret_keys=()) -> None:
    """A 422 listing every violation (JSON path and message) of ``document`` against the
    component's schema; nothing when it has none. A secret's value never appears in a message."""
    row = find_registered(tenant, component.id)
    if row is None or row.json_schema is None:
        return
    validator = jsonschema_lib.load().Draft202012Validator(row.json_schema)
    problems = sorted(validator.iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)),
                                                                       e.message))
    if not problems:
        return
    errors: dict[str, list] = {}
    for problem in problems[:MAX_SCHEMA_ERRORS]:
        path = list(problem.absolute_path)
        text = problem.message[:300]
        if path and path[0] in secret_keys:
            text = msg("The secret value fails the schema's '%(rule)s' rule.", rule=problem.validator)
        errors.setdefault(json_path(path), []).append(text)
    raise Invalid(msg("The configuration violates the component's schema: %(count)s error(s).",
                      count=len(problems)), errors={"json": errors})
