"""`taiji example-notes TENANT`: the example module's shell command (Module.cli_commands)."""

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
