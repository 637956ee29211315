"""``taiji users create`` and ``taiji tokens create``: accounts and API tokens from a shell.

The first administrator of an install that cannot sign in yet, and a token for a script, are made
here; everything else about accounts is the console's and the API's.
"""

from __future__ import annotations

import datetime as dt
import secrets

import click


@click.group()
def users():
    """Manage user accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", help="Display name (default: the part of the email before @).")
@click.option("--admin", is_flag=True, help="Make the user a platform administrator.")
@click.option("--password", help="The password (other users of this machine can see command lines; "
                                 "omit it to have one generated and printed).")
def users_create(email, name, admin, password):
    """Create a user who signs in with EMAIL and a password."""
    from taiji.platform.commands import get_app
    from taiji.platform.db import db
    from taiji.platform.errors import ServiceError

    from . import services

    app = get_app()
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(12)
    with app.app_context():
        try:
            user = services.create_user(email, name, password, admin=admin, email_verified=True)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
        db.session.commit()
        click.echo(f"Created {user.email}{' (platform administrator)' if admin else ''}.")
        if generated:
            click.echo(f"Password: {password}")


@click.group()
def tokens():
    """Manage personal access tokens for the REST API."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--expires-in-days", type=int, default=None, help="Expire after this many days.")
@click.option("--scope", "scopes", multiple=True, help="Limit the token to a permission (repeatable).")
def tokens_create(email, name, expires_in_days, scopes):
    """Create a token for EMAIL and print it alone on stdout (it is shown only once)."""
    from taiji.platform.commands import get_app
    from taiji.platform.db import db
    from taiji.platform.errors import ServiceError

    from . import services

    app = get_app()
    with app.app_context():
        user = services.get_user_by_email(email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        expires = None
        if expires_in_days is not None:
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days)
        try:
            _, plaintext = services.create_token(user, name, scopes=list(scopes) or None, expires_at=expires)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
        db.session.commit()
    click.echo(plaintext)
