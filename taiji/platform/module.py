"""The ``Module`` object each subsystem exports; ``create_app`` registers the enabled ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NavItem:
    """One entry of the console navigation.

    ``scope`` is "tenant" (shown inside a tenant, endpoint takes ``tenant=``), "platform"
    (administration menu) or "user" (the user menu). ``permission`` hides the entry from
    those who cannot use it; the route still checks.
    """

    label: Any  # a lazy_gettext string
    endpoint: str
    scope: str = "tenant"
    icon: str = "circle"
    permission: str | None = None
    order: int = 100
    # principal -> a number shown beside the entry (pending things waiting for the user), or 0.
    badge: Callable[[Any], int] | None = None


@dataclass
class Module:
    code: str
    title: Any
    api_blueprints: list = field(default_factory=list)
    blueprints: list = field(default_factory=list)
    nav: list[NavItem] = field(default_factory=list)
    permissions: list[tuple] = field(default_factory=list)  # (enum, tenant_grants, platform_grants)
    event_handlers: dict[str, list[Callable]] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)  # import paths of task modules
    setup: Callable[[Any], None] | None = None  # called with the app after registration
    # In-process transaction steps (taiji.platform.tx.local.LocalStep), named '<code>.<name>'.
    tx_steps: list = field(default_factory=list)
