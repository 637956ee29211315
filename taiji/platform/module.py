"""The ``Module`` object each subsystem exports; ``create_app`` registers the enabled ones.

``Module`` is the whole contract between a subsystem and the kernel: everything a module brings
(routes, navigation, permissions, events, tasks and their schedule, quota meters, settings, shell
commands and the queues they consume, CSRF exemptions, the pages and the authentication the kernel
relies on, transaction steps, test seeders, translations) is declared here and registered by
``create_app`` on *that* application (``taiji.platform.registry``). docs/architecture.md ("How a
module plugs in") shows each registration point.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_pgettext

from taiji.platform.auth import AuthProvider
from taiji.platform.config import Setting  # noqa: F401  (a module's settings: Module(settings=[Setting(...)]))


@dataclass(frozen=True)
class NavGroup:
    """A section of the tenant menu. The kernel defines them (``NAV_GROUPS``); modules name one."""

    key: str
    title: Any  # a lazy string
    order: int


# The tenant menu's sections, in this order (the way GitLab groups its menu). A module's tenant
# NavItem names one by key (``group="build"``); an unknown key stops the application at start.
NAV_GROUPS: dict[str, NavGroup] = {
    group.key: group
    for group in (
        NavGroup("code", lazy_pgettext("menu", "Code"), 10),  # repositories, the software catalog
        NavGroup("build", lazy_pgettext("menu", "Build"), 20),  # pipelines, runners
        NavGroup("deploy", lazy_pgettext("menu", "Deploy"), 30),  # packages and artifacts, releases
        NavGroup("operate", lazy_pgettext("menu", "Operate"), 40),  # transactions and their deliveries
        NavGroup("manage", lazy_pgettext("menu", "Manage"), 50),  # members, roles, settings, audit
    )
}


@dataclass(frozen=True)
class NavItem:
    """One entry of the console navigation.

    ``scope`` is "tenant" (shown inside a tenant, endpoint takes ``tenant=``), "platform"
    (administration menu) or "user" (the user menu). ``permission`` hides the entry from
    those who cannot use it; the route still checks.

    ``group`` (tenant entries) is the key of the menu section the entry sits in (``NAV_GROUPS``:
    "code", "build", "deploy", "operate", "manage"); None puts it above the sections (the
    tenant's overview). ``parent`` is the endpoint of another entry of the same module that
    this one sits under (shown indented below it, and in the breadcrumbs after it).
    """

    label: Any  # a lazy_gettext string
    endpoint: str
    scope: str = "tenant"
    icon: str = "circle"
    permission: str | None = None
    order: int = 100
    # A number shown beside the entry (pending things waiting for the user), or 0: called with the
    # principal for a "user" entry, with the principal and the tenant for a "tenant" entry; computed
    # once per request (taiji.platform.web.nav_badges).
    badge: Callable[..., int] | None = None
    group: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class Periodic:
    """A task the scheduler (``taiji scheduler``) sends every ``interval`` (seconds or a timedelta).

    ``name`` is the beat entry (``<code>-<what>``), ``task`` the Celery task name (``<code>.<verb>``);
    the task itself is defined in one of the module's ``tasks`` modules.
    """

    name: str
    task: str
    interval: float | dt.timedelta

    def entry(self) -> dict:
        interval = self.interval
        if not isinstance(interval, dt.timedelta):
            interval = dt.timedelta(seconds=float(interval))
        return {"task": self.task, "schedule": interval}


@dataclass(frozen=True)
class Queue:
    """A Celery queue whose tasks one of the module's own commands consumes, never ``taiji worker``.

    Long tasks (a pipeline's jobs) in a pool of their own never hold up the platform's work (events,
    transactions, notifications) in the worker's threads. ``what`` says what the tasks are ("Pipeline
    jobs") in the worker's refusal; ``command`` is the name of the module's command (one of its
    ``cli_commands``) that consumes the queue, which ``taiji up`` starts beside the worker.
    """

    name: str
    what: str
    command: str


@dataclass(frozen=True)
class EventSpec:
    """An event a module publishes, with the shape of its payload.

    ``schema`` maps each field to its type: a Python type (``str``, ``int``, ``dict``, ``list``,
    ``bool``, ``float``) or a tuple of them, ``None`` in the tuple allowing null. A field whose
    name ends with ``?`` may be left out. Other fields are refused. A name ending with ``.*``
    declares a family (``tx.message.*``). Payloads are checked when the app runs with TESTING.
    """

    name: str
    schema: dict[str, Any]
    description: str = ""

    def matches(self, name: str) -> bool:
        if self.name.endswith(".*"):
            return name.startswith(self.name[:-1])
        return name == self.name

    def problems(self, payload: Any) -> list[str]:
        """What is wrong with ``payload`` (empty when it fits the schema)."""
        if not isinstance(payload, dict):
            return [f"the payload is a {type(payload).__name__}, not an object"]
        found = []
        known = set()
        for key, kind in self.schema.items():
            optional = key.endswith("?")
            name = key.rstrip("?")
            known.add(name)
            if name not in payload:
                if not optional:
                    found.append(f"'{name}' is missing")
                continue
            if not _fits(payload[name], kind):
                found.append(f"'{name}' is {payload[name]!r}, not {_type_name(kind)}")
        found.extend(f"'{extra}' is not declared" for extra in sorted(set(payload) - known))
        return found


def _kinds(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _fits(value, kind) -> bool:
    for one in _kinds(kind):
        if one is None and value is None:
            return True
        if one is Any:
            return True
        if isinstance(one, type) and isinstance(value, one):
            if one is int and isinstance(value, bool):
                continue
            return True
        if one is float and isinstance(value, int) and not isinstance(value, bool):
            return True
    return False


def _type_name(kind) -> str:
    return " or ".join("null" if one is None else getattr(one, "__name__", str(one)) for one in _kinds(kind))


@dataclass
class Module:
    code: str
    title: Any
    api_blueprints: list = field(default_factory=list)
    blueprints: list = field(default_factory=list)
    nav: list[NavItem] = field(default_factory=list)
    permissions: list[tuple] = field(default_factory=list)  # (enum, tenant_grants, platform_grants)
    # Events this module publishes (EventSpec); handlers may subscribe only to declared events.
    events: list[EventSpec] = field(default_factory=list)
    event_handlers: dict[str, list[Callable]] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)  # import paths of task modules
    periodic: list[Periodic] = field(default_factory=list)
    # taiji.platform.quotas.Meter objects, or a callable returning them (called at registration).
    quota_meters: list | Callable[[], list] = field(default_factory=list)
    # TAIJI_* settings of this module (taiji.platform.config.Setting with a ``parse``); read at start.
    settings: list = field(default_factory=list)
    # click commands or groups added to the ``taiji`` command.
    cli_commands: list = field(default_factory=list)
    # Queues one of those commands consumes instead of ``taiji worker`` (Queue).
    queues: list[Queue] = field(default_factory=list)
    # Blueprints, view functions or endpoint names that take no CSRF token (token-authenticated).
    csrf_exempt: list = field(default_factory=list)
    # Endpoints the kernel's pages link to, by role: "login", "logout", "set_locale", "home",
    # "tenant_home" (takes ``tenant=``). One enabled module provides each.
    kernel_endpoints: dict[str, str] = field(default_factory=dict)
    # How callers are recognized (session, bearer token) and what they may do: taiji.platform.auth.
    # AuthProvider. One enabled module provides it.
    auth: AuthProvider | None = None
    # For the platform-wide test walks: callables seed(tenant, owner, known) -> {URL argument: value}
    # creating representative rows of this module in ``tenant``; or the import path of a test module
    # that registers them (see tests/factories.py).
    seeders: list | str = field(default_factory=list)
    # A folder of gettext catalogues (``<folder>/<locale>/LC_MESSAGES/messages.mo``); None: the
    # ``translations`` folder beside the module's ``__init__.py`` when there is one.
    translations: str | None = None
    setup: Callable[[Any], None] | None = None  # called with the app after registration
    # In-process transaction steps (taiji.platform.tx.local.LocalStep), named '<code>.<name>'.
    tx_steps: list = field(default_factory=list)
    # What the tenant overview shows of this module: taiji.platform.overview.Panel (recent things)
    # and taiji.platform.overview.Attention (things needing attention) objects.
    overview: list = field(default_factory=list)
    # How the audit page words this module's actions: taiji.platform.audit_sentences.Sentence objects.
    audit_sentences: list = field(default_factory=list)

    @property
    def table_prefix(self) -> str:
        """Its tables are named ``<code>_<thing>``: migrations own the tables with this prefix."""
        return f"{self.code}_"
