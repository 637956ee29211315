"""What the enabled modules registered, kept per application (``app.extensions["taiji"]``).

The permission catalog, the authentication hooks, event subscriptions and declared events, quota
meters, local transaction steps and the periodic schedule belong to one Flask application:
``create_app(modules=[...])`` yields exactly those modules' registrations, and two applications in
one process do not see each other's. The module-level functions of ``auth``, ``events``,
``quotas`` and ``tx.local`` read ``current()``: the registry of the application in context.

Outside any application context (a Celery signal handler, a script before it pushes a context)
``current()`` is the registry of the application the one Celery application serves
(``tasks.init_celery``: the app created last, or the one handed back to it).
"""

from __future__ import annotations

from flask import current_app, has_app_context


class Registry:
    def __init__(self):
        from taiji.platform.auth import AuthProvider, PermissionCatalog

        self.modules: list = []
        self.catalog = PermissionCatalog()
        self.auth = AuthProvider()  # filled from the module that provides it (Module.auth)
        self.handlers: dict[str, dict] = {}  # event name -> {handler name: callable}
        self.events: dict[str, object] = {}  # event name -> EventSpec (the kernel's and the modules')
        self.meters: dict[str, object] = {}  # meter name -> quotas.Meter
        self.local_steps: dict[str, object] = {}  # step name -> tx.local.LocalStep
        self.periodic: dict[str, dict] = {}  # beat entry name -> {"task", "schedule"}
        self.settings: list = []  # the modules' config.Setting declarations
        self.cli_commands: list = []
        self.kernel_endpoints: dict[str, str] = {}
        self.auth_cache = None  # taiji.platform.authcache.AuthCache, made by create_app
        self.read_cache = None  # taiji.platform.readcache.ReadCache, made by create_app

    def event_spec(self, name: str):
        spec = self.events.get(name)
        if spec is not None:
            return spec
        return next((s for s in self.events.values() if s.matches(name)), None)


def install(app) -> Registry:
    """Give ``app`` a fresh registry (create_app, before any module registers)."""
    registry = Registry()
    app.extensions["taiji"] = registry
    return registry


def current() -> Registry:
    if has_app_context():
        registry = current_app.extensions.get("taiji")
        if registry is not None:
            return registry
    from taiji.platform.tasks import celery

    served = celery.flask_app
    if served is None or "taiji" not in served.extensions:
        raise RuntimeError("No Taiji application exists yet: its registries are made by create_app().")
    return served.extensions["taiji"]
