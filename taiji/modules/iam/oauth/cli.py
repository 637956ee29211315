"""``taiji clients …`` and ``taiji keys …``: the OpenID Connect provider from a shell.

The groups join the ``taiji`` command through IAM's ``Module.cli_commands``. A command runs against the
Flask app passed as the click context object (tests), or one built from the environment.
"""

from __future__ import annotations

import json

import click
from flask import Flask

from taiji.platform.errors import ServiceError


def _app() -> Flask:
    ctx = click.get_current_context()
    app = ctx.find_object(Flask)
    if app is None:
        from taiji.platform.app import create_app

        app = ctx.ensure_object(dict).setdefault("taiji_app", create_app())
    return app


def _run(work):
    """Run ``work`` in one unit of work; a service error becomes a clear message and exit code 2."""
    from taiji.platform.db import db

    with _app().app_context():
        try:
            result = work()
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            raise click.UsageError(exc.detail) from exc
        return result


def _client_json(client, secret=None) -> dict:
    out = {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "trusted": client.trusted,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "can_introspect": client.can_introspect,
        "resource": client.resource,
    }
    if secret is not None:
        out["client_secret"] = secret
    return out


@click.group("clients")
def clients():
    """OAuth / OpenID Connect clients (tools that sign in with Taiji)."""


@clients.command("create")
@click.option("--name", required=True, help="What people call the tool.")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI; repeat for several."
)
@click.option(
    "--post-logout-redirect-uri", "logout_uris", multiple=True, help="Where logout may send users back."
)
@click.option("--public", is_flag=True, help="No secret (browser or native app); PKCE protects the code.")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
    help="Grant type; repeat for several. Default: authorization_code and refresh_token.",
)
@click.option("--scope", default=None, help="Scopes the client may ask for (default: openid profile email).")
@click.option("--trusted", is_flag=True, help="First-party: users are not asked for consent.")
@click.option("--introspect", "can_introspect", is_flag=True,
              help="A resource server: may introspect every access token, not only its own.")
@click.option("--resource", default=None,
              help="Resource indicator (RFC 8707) of the API this client serves, e.g. https://api.example.com.")
def create_client(name, redirect_uris, logout_uris, public, grants, scope, trusted, can_introspect, resource):
    """Register a client; prints JSON with client_id (and client_secret, shown only now)."""
    from . import services

    def work():
        client, secret = services.create_client(
            name,
            list(redirect_uris),
            public=public,
            grant_types=list(grants) or None,
            scope=scope,
            trusted=trusted,
            post_logout_redirect_uris=list(logout_uris),
            can_introspect=can_introspect,
            resource=resource,
        )
        return _client_json(client, secret)

    click.echo(json.dumps(_run(work), indent=2))


@clients.command("update")
@click.argument("client_id")
@click.option("--introspect/--no-introspect", "can_introspect", default=None,
              help="Allow (or stop allowing) the client to introspect every access token.")
@click.option("--resource", default=None,
              help="Resource indicator (RFC 8707) the client serves; an empty string removes it.")
def update_client(client_id, can_introspect, resource):
    """Change what a client may do as a resource server; prints the client as JSON."""
    from . import services

    data = {}
    if can_introspect is not None:
        data["can_introspect"] = can_introspect
    if resource is not None:
        data["resource"] = resource or None
    if not data:
        raise click.UsageError("Nothing to change: give --introspect/--no-introspect or --resource.")
    click.echo(json.dumps(_run(lambda: _client_json(services.update_client(client_id, data))), indent=2))


@clients.command("list")
def list_clients():
    """Registered clients as JSON (never their secrets)."""
    from . import services

    click.echo(
        json.dumps(
            _run(lambda: [_client_json(c) for c in services.list_clients(page_size=100).items]), indent=2
        )
    )


@clients.command("rotate-secret")
@click.argument("client_id")
def rotate_secret(client_id):
    """Give a confidential client a new secret; the old one stops working at once."""
    from . import services

    def work():
        client, secret = services.rotate_client_secret(client_id)
        return {"client_id": client.client_id, "client_secret": secret}

    click.echo(json.dumps(_run(work), indent=2))


@clients.command("delete")
@click.argument("client_id")
def delete_client(client_id):
    """Delete a client with its grants and refresh tokens."""
    from . import services

    _run(lambda: services.delete_client(client_id))
    click.echo(f"Deleted {client_id}.")


@click.group("keys")
def keys():
    """The platform's token-signing keys."""


@keys.command("rotate")
@click.option(
    "--delay",
    type=int,
    default=None,
    help="Seconds before the new key signs (default: one access-token lifetime).",
)
@click.option(
    "--now", "immediately", is_flag=True, help="Sign with the new key at once (after a compromise)."
)
def rotate_keys(delay, immediately):
    """Publish a new signing key; old keys stay in JWKS until their tokens expire."""
    from . import services

    def work():
        row = services.rotate_signing_key(0 if immediately else delay)
        return {"kid": row.kid, "activates_at": row.activates_at.isoformat()}

    click.echo(json.dumps(_run(work), indent=2))
