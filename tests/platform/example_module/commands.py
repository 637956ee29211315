"""`taiji example-notes TENANT`: the example module's shell command (Module.cli_commands); and
`taiji example-pool`, the pool its slow tasks run in, never `taiji worker` (Module.queues)."""

from __future__ import annotations

import click
from flask import Flask


@click.command("example-notes", short_help="List a tenant's example notes.")
@click.argument("tenant")
def example_notes(tenant):
    """List the example notes of TENANT, one title a line."""
    from taiji.platform.commands import get_app
    from taiji.platform.tenancy import tenant_by_slug

    from . import services

    app = click.get_current_context().find_object(Flask) or get_app()
    with app.app_context():
        row = tenant_by_slug(tenant)
        if row is None:
            raise click.ClickException(f"No tenant {tenant}.")
        click.echo(f"{len(services.list_notes(row))} notes (titles up to {app.config['EXAMPLE_MAX_TITLE']})")
        for note in services.list_notes(row):
            click.echo(note.title)


SLOW_QUEUE = "example.slow"


@click.command("example-pool", short_help="Run the example's slow tasks, in a pool of their own.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=2, show_default=True)
def example_pool(concurrency):
    """Run the example's slow tasks: `taiji up` starts it beside the worker, which refuses their queue."""
    from taiji.platform.commands import get_app

    app = click.get_current_context().find_object(Flask) or get_app()
    app.extensions["celery"].worker_main(["worker", "--pool=threads", f"--concurrency={concurrency}",
                                          "-Q", SLOW_QUEUE, "-n", "example-pool@%h"])
