"""``taiji tenants create``: a tenant from a shell, before anyone can sign in to make one."""

from __future__ import annotations

import click


@click.group()
def tenants():
    """Manage tenants."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
@click.option("--owner", "owner_email", help="Email of the first owner (default: the first administrator).")
def tenants_create(slug, name, owner_email):
    """Create a tenant SLUG."""
    from taiji.modules.iam import services as iam
    from taiji.platform.commands import get_app, service_message
    from taiji.platform.db import db
    from taiji.platform.errors import ServiceError

    from . import services

    app = get_app()
    with app.app_context():
        owner = iam.get_user_by_email(owner_email or app.config["ADMIN_EMAIL"])
        if owner is None:
            raise click.ClickException(f"No user with the email {owner_email or app.config['ADMIN_EMAIL']}.")
        try:
            tenant = services.create_tenant(slug, name, owner_id=owner.id)
        except ServiceError as exc:
            raise click.ClickException(service_message(exc)) from exc
        db.session.commit()
        click.echo(f"Created tenant {tenant.slug} ({tenant.name}), owner {owner.email}.")
