"""The ``taiji`` command: run the server and administer it from a shell."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

_app = None


def get_app():
    global _app
    if _app is None:
        from taiji.platform.app import create_app

        _app = create_app()
    return _app


def _metrics_env() -> None:
    """All processes of one install share a metrics folder, so /metrics sums them."""

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    data_dir = Path(os.environ.get("TAIJI_DATA_DIR") or "./instance").resolve()
    folder = Path(os.environ.get("TAIJI_METRICS_DIR") or data_dir / "metrics")
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Taiji, a DevOps platform for products built from microservices.

    Settings come from TAIJI_* environment variables (see the README).
    """


# -- running ------------------------------------------------------------------------------------


def _ensure_admin(app) -> None:
    from taiji.modules.iam import services as iam
    from taiji.platform.db import db

    with app.app_context():
        if iam.count_users() > 0:
            return
        email = app.config["ADMIN_EMAIL"]
        password = app.config["ADMIN_PASSWORD"]
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        iam.create_user(email, "Administrator", password, admin=True)
        db.session.commit()
        click.echo("=" * 60)
        click.echo("Taiji created the first platform administrator:")
        click.echo(f"  email:    {email}")
        if generated:
            click.echo(f"  password: {password}")
            click.echo("This password is shown only now; change it after signing in.")
        click.echo("=" * 60)


def _upgrade(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))


@main.command()
@click.option("--no-migrate", is_flag=True, help="Do not apply migrations first.")
def up(no_migrate):
    """Run web server, worker and scheduler together; Ctrl-C stops all three."""
    _metrics_env()
    app = get_app()
    if not no_migrate:
        _upgrade(app)
    _ensure_admin(app)
    exe = [sys.executable, "-m", "taiji.cli"]
    procs = {
        "web": subprocess.Popen([*exe, "web", "--no-bootstrap"]),
        "worker": subprocess.Popen([*exe, "worker"]),
        "scheduler": subprocess.Popen([*exe, "scheduler"]),
    }
    click.echo(f"Taiji is at {app.config['BASE_URL']} (Ctrl-C stops it)")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    click.echo(f"{name} exited with {proc.returncode}; stopping the others", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    click.echo("Taiji stopped.")


@main.command()
@click.option("--no-bootstrap", is_flag=True, hidden=True)
@click.option("--workers", type=int, default=None, help="gunicorn workers (default TAIJI_WEB_WORKERS).")
def web(no_bootstrap, workers):
    """Run the web server (console and API) with gunicorn."""
    _metrics_env()
    app = get_app()
    if not no_bootstrap:
        _ensure_admin(app)
    bind = f"{app.config['HOST']}:{app.config['PORT']}"
    args = ["gunicorn", "--bind", bind, "--workers", str(workers or app.config["WEB_WORKERS"]),
            "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-",
            "--graceful-timeout", "10", "taiji.wsgi:app"]
    os.execvp(sys.executable, [sys.executable, "-m", *args])


@main.command()
@click.option("--concurrency", "-c", type=int, default=4, help="Tasks run at once.")
def worker(concurrency):
    """Run a background worker (pipelines, event delivery, notifications)."""
    _metrics_env()
    app = get_app()
    celery = app.extensions["celery"]
    celery.worker_main(["worker", "--loglevel=INFO", "--pool=threads", f"--concurrency={concurrency}",
                        "-Q", "taiji", "--without-gossip", "--without-mingle"])


@main.command()
def scheduler():
    """Run the scheduler (periodic relays, timers, clean-ups)."""
    _metrics_env()
    app = get_app()
    celery = app.extensions["celery"]
    celery.start(["beat", "--loglevel=INFO"])


# -- administration ------------------------------------------------------------------------------


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply every pending migration."""
    _upgrade(get_app())
    click.echo("Database is up to date.")


@main.group()
def users():
    """User accounts."""


@users.command("create")
@click.argument("email")
@click.option("--name", help="Display name (default: the part of the email before @).")
@click.option("--admin", is_flag=True, help="Make the user a platform administrator.")
@click.option("--password", help="The password; one is generated and printed when omitted.")
def users_create(email, name, admin, password):
    """Create a user who signs in with EMAIL and a password."""
    from taiji.modules.iam import services as iam
    from taiji.platform.db import db as database
    from taiji.platform.errors import ServiceError

    app = get_app()
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(12)
    with app.app_context():
        try:
            user = iam.create_user(email, name, password, admin=admin)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
        database.session.commit()
        click.echo(f"Created {user.email}{' (platform administrator)' if admin else ''}.")
        if generated:
            click.echo(f"Password: {password}")


@main.group()
def tokens():
    """Personal access tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--expires-in-days", type=int, default=None, help="Expire after this many days.")
@click.option("--scope", "scopes", multiple=True, help="Limit the token to a permission (repeatable).")
def tokens_create(email, name, expires_in_days, scopes):
    """Create a token for EMAIL and print it alone on stdout (it is shown only once)."""
    from taiji.modules.iam import services as iam
    from taiji.platform.db import db as database
    from taiji.platform.errors import ServiceError

    app = get_app()
    with app.app_context():
        user = iam.get_user_by_email(email)
        if user is None:
            raise click.ClickException(f"No user with the email {email}.")
        expires = None
        if expires_in_days is not None:
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days)
        try:
            _, plaintext = iam.create_token(user, name, scopes=list(scopes) or None, expires_at=expires)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from exc
        database.session.commit()
    click.echo(plaintext)


@main.group()
def tenants():
    """Tenants."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
@click.option("--owner", "owner_email", help="Email of the first owner (default: the first administrator).")
def tenants_create(slug, name, owner_email):
    """Create a tenant SLUG."""
    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.db import db as database
    from taiji.platform.errors import ServiceError

    app = get_app()
    with app.app_context():
        owner = iam.get_user_by_email(owner_email or app.config["ADMIN_EMAIL"])
        if owner is None:
            raise click.ClickException(f"No user with the email {owner_email or app.config['ADMIN_EMAIL']}.")
        try:
            tenant = tm.create_tenant(slug, name, owner_id=owner.id)
        except ServiceError as exc:
            raise click.ClickException(exc.detail + (f" {json.dumps(exc.errors)}" if exc.errors else "")) from exc
        database.session.commit()
        click.echo(f"Created tenant {tenant.slug} ({tenant.name}), owner {owner.email}.")


@main.command("settings")
def show_settings():
    """List every TAIJI_* setting with its default and current value."""
    from taiji.platform.config import SETTINGS

    for setting in SETTINGS:
        current = os.environ.get(setting.name)
        shown = "(secret)" if current and ("PASSWORD" in setting.name or "SECRET" in setting.name) else current
        click.echo(f"{setting.name}={shown if current else ''}\n    default: {setting.default}\n    {setting.help}")


if __name__ == "__main__":
    main()
