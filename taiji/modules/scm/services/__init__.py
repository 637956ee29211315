"""SCM's public face: configuration items in layers, releases, gray, client reads, access keys.

Services take the tenant first (and the acting principal or user where something changes), flush
and never commit; they raise ``taiji.platform.errors`` (NotFound, Conflict, Forbidden, Invalid).
A ``component`` argument is an SPM component or its reference (``name`` or ``product:name``).
"""

from __future__ import annotations

from .clients import ClientConfig, config_for, list_instances, record_instance, render, render_template
from .components import find_registered, list_configured, resolve_component
from .diffing import Change, diff
from .history import history
from .items import delete_item, draft, get_item, list_items, put_item, reveal_secret
from .keys import (
    authenticate_access_key,
    create_access_key,
    get_access_key,
    list_access_keys,
    note_key_use,
    revoke_access_key,
)
from .policies import find_policy, get_schema, list_policies, set_policy, set_schema
from .releases import (
    abandon,
    approve,
    current_release,
    get_release,
    gray_release,
    list_releases,
    live_topic,
    promote,
    publish,
    reject,
    release_for,
    rollback,
)
from .resolve import Resolved, ResolvedValue
from .rotation import rotate_keys
from .transfer import ImportReport, export_namespace, import_namespace

__all__ = [
    "Change",
    "ClientConfig",
    "ImportReport",
    "Resolved",
    "ResolvedValue",
    "abandon",
    "approve",
    "authenticate_access_key",
    "config_for",
    "create_access_key",
    "current_release",
    "delete_item",
    "diff",
    "draft",
    "export_namespace",
    "find_policy",
    "find_registered",
    "get_access_key",
    "get_item",
    "get_release",
    "get_schema",
    "gray_release",
    "history",
    "import_namespace",
    "list_access_keys",
    "list_configured",
    "list_instances",
    "list_items",
    "list_policies",
    "list_releases",
    "live_topic",
    "note_key_use",
    "promote",
    "publish",
    "put_item",
    "record_instance",
    "reject",
    "release_for",
    "render",
    "render_template",
    "resolve_component",
    "reveal_secret",
    "revoke_access_key",
    "rollback",
    "rotate_keys",
    "set_policy",
    "set_schema",
]
