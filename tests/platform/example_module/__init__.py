"""An example module that uses every registration point of ``Module`` (taiji.platform.module).

It lives in the test suite only: tests/platform/test_module_contract.py enables it beside the
built-in modules (``create_app(modules=(*ENABLED_MODULES, "tests.platform.example_module"))``)
and checks that each registration works. docs/architecture.md ("How a module plugs in") walks
through the same points. Its one table is created by the test (a real module has a migration).
The two points one module provides for the whole app — the authentication (``auth``) and the pages
the kernel links to (``kernel_endpoints``) — are IAM's and TM's in that app; ``gatekeeper.py``
provides them instead, in an app without IAM and TM.
"""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext as _l

from taiji.platform.config import Setting, integer
from taiji.platform.module import EventSpec, Module, NavItem, Periodic, Queue
from taiji.platform.quotas import Meter
from taiji.platform.tx.local import LocalStep

from . import api, commands, events, home, services, views
from .permissions import PLATFORM_GRANTS, TENANT_GRANTS, Perm


def _setup(app) -> None:
    """Anything else, once the app has every module: here, a header on the module's own pages."""

    @app.after_request
    def mark(response):
        from flask import request

        if (request.blueprint or "").startswith("example"):
            response.headers["X-Example-Module"] = "on"
        return response


def _seed(tenant, owner, known) -> dict:
    """For the platform walks: one note of ``tenant``, named by its id in URLs."""
    return {"note_id": services.create_note(tenant, f"note of {tenant.slug}").id}


module = Module(
    code="example",
    title=_l("Example notes"),
    api_blueprints=[api.blp],
    blueprints=[views.bp],
    nav=[NavItem(_l("Example notes"), "example.notes", permission=Perm.NOTE_READ, order=990,
                 group="operate")],
    permissions=[(Perm, TENANT_GRANTS, PLATFORM_GRANTS)],
    events=[EventSpec(events.NOTE_CREATED, {"tenant": str, "tenant_id": int, "note_id": int, "title": str},
                      "A note was written.")],
    event_handlers={events.NOTE_CREATED: [events.on_note_created]},
    tasks=["tests.platform.example_module.tasks"],
    periodic=[Periodic("example-count-notes", "example.count_notes", 300)],
    quota_meters=[Meter(services.NOTES_METER, _l("Example notes"), 2, services.count_notes)],
    settings=[Setting("TAIJI_EXAMPLE_MAX_TITLE", "40", "Longest title of an example note, characters.",
                      parse=integer(minimum=1))],
    cli_commands=[commands.example_notes, commands.example_pool],
    queues=[Queue(commands.SLOW_QUEUE, "Slow example tasks", "example-pool")],
    csrf_exempt=[views.hook],
    seeders=[_seed],
    tx_steps=[LocalStep("example.stamp", action=services.stamp, compensate=services.unstamp)],
    translations=str(Path(__file__).parent / "translations"),  # where it would be found anyway
    setup=_setup,
    overview=home.OVERVIEW,
    audit_sentences=home.SENTENCES,
)
