"""The ``taiji`` command: run the server and administer it from a shell."""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from taiji.platform.commands import get_app, starting
from taiji.platform.commands import service_message as _service_message


def _metrics_env() -> None:
    # Before anything imports taiji.platform.observability (see config.share_metrics).
    from taiji.platform.config import share_metrics

    share_metrics()


class _InOrder(click.Group):
    """Lists commands in the order they are declared: running first (with the modules' commands that
    consume a queue of their own, Module.queues), then administration, then the enabled modules' own.
    Those are added when first needed (a listing, or a name the kernel does not have): importing every
    module costs seconds that `taiji web` and the other kernel commands need not pay before they start
    (the web server's master, for one, builds no application)."""

    modules_added = False

    def _add_modules(self) -> None:
        if not self.modules_added:
            self.modules_added = True
            _add_enabled_module_commands()

    def list_commands(self, ctx):
        self._add_modules()
        running = [name for name in _queue_commands() if name in self.commands]
        names = [name for name in self.commands if name not in running]
        after = names.index("worker") + 1
        return [*names[:after], *running, *names[after:]]

    def get_command(self, ctx, cmd_name):
        command = self.commands.get(cmd_name)
        if command is None or isinstance(command, click.Group):  # a module's group may join a kernel's
            self._add_modules()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_InOrder, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main():
    """Taiji, a DevOps platform for products built from microservices.

    \b
    Start everything on one machine:   taiji up
    Or each part on its own:           taiji web | taiji worker | taiji runner | taiji scheduler
    First administrator by hand:       taiji users create EMAIL --admin

    Settings come from TAIJI_* environment variables; `taiji settings` lists them.
    """


# -- running ------------------------------------------------------------------------------------


def _ensure_admin(app) -> None:
    """The first platform administrator of a new install, through the hooks of the module that keeps
    the accounts (AuthProvider.count_accounts, .create_first_admin); none without such a module."""
    import sqlalchemy as sa

    from taiji.platform.db import db
    from taiji.platform.errors import ServiceError

    hooks = app.extensions["taiji"].auth
    if hooks.count_accounts is None or hooks.create_first_admin is None:
        return
    with app.app_context():
        try:
            if hooks.count_accounts() > 0:
                return
        except sa.exc.DBAPIError as exc:
            message = f"The database is not ready ({type(exc.orig).__name__}); run `taiji db upgrade` first."
            raise click.ClickException(message) from exc
        email = app.config["ADMIN_EMAIL"]
        password = app.config["ADMIN_PASSWORD"]
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        try:
            hooks.create_first_admin(email, password)
        except ServiceError as exc:
            raise click.ClickException(
                f"Cannot create the first administrator from TAIJI_ADMIN_EMAIL/TAIJI_ADMIN_PASSWORD: "
                f"{_service_message(exc)}") from exc
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


def _child_setup() -> None:
    """In each child of `taiji up`: its own process group, and a SIGTERM if `taiji up` dies."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG, Linux only
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    # Each child leads its own group: gunicorn's workers get the signal with their master.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


STOP_TIMEOUT = 20


@main.command(short_help="Run web server, worker, runner and scheduler together.")
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations first.")
def up(no_migrate):
    """Run web server, worker, job runner and scheduler together; Ctrl-C stops them all.

    The job runner (and any other pool a module consumes its queue in, Module.queues) starts only
    with the module that brings it.

    On first start this also creates the database and the first platform administrator,
    whose password is printed once (unless TAIJI_ADMIN_PASSWORD sets it).
    """
    _metrics_env()
    app = get_app()
    if not no_migrate:
        _upgrade(app)
    _ensure_admin(app)
    with app.app_context():
        from taiji.platform.db import db as database

        database.engine.dispose()
    exe = [sys.executable, "-m", "taiji.cli"]
    # The platform's work and the modules' queues (pipeline jobs) in processes of their own: jobs
    # never take the threads that deliver events and run transactions.
    commands = {"web": [*exe, "web", "--no-bootstrap"], "worker": [*exe, "worker"],
                **{name: [*exe, name] for name in _queue_commands()}, "scheduler": [*exe, "scheduler"]}
    requests = []

    def on_signal(signum, _frame):
        requests.append(signum)

    # Handlers first: a Ctrl-C while the children start must still stop the ones already started.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: dict[str, subprocess.Popen] = {}
    failed = None
    try:
        for name, command in commands.items():
            # Our own interpreter and fixed arguments; preexec_fn is safe here: no threads yet.
            procs[name] = subprocess.Popen(command, start_new_session=True, preexec_fn=_child_setup)  # noqa: S603
        click.echo(f"Taiji is at {app.config['BASE_URL']} (Ctrl-C stops it)")
        while not requests and failed is None:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    failed = name
                    click.echo(f"taiji {name} exited with code {proc.returncode}; stopping the others",
                               err=True)
                    break
            time.sleep(0.2)
    finally:
        _stop_children(procs, requests)
    if failed is not None:
        sys.exit(1)
    click.echo("Taiji stopped.")


def _stop_children(procs: dict[str, subprocess.Popen], requests: list) -> None:
    """SIGTERM to every child group, SIGKILL after STOP_TIMEOUT s or on a second Ctrl-C."""
    for proc in procs.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    seen = len(requests)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(proc.poll() is None for proc in procs.values()):
        if time.monotonic() > deadline or len(requests) > max(seen, 1):
            for name, proc in procs.items():
                if proc.poll() is None:
                    click.echo(f"taiji {name} did not stop; killing it", err=True)
                    _signal_group(proc, signal.SIGKILL)
            for proc in procs.values():
                proc.wait()
            break
        time.sleep(0.1)
    for proc in procs.values():
        # Whatever the child left in its group (a gunicorn worker, a pool thread's process).
        _signal_group(proc, signal.SIGKILL)


@main.command(short_help="Run the web server (console and API).")
@click.option("--no-bootstrap", is_flag=True, hidden=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="gunicorn worker processes (default: TAIJI_WEB_WORKERS).")
def web(no_bootstrap, workers):
    """Run the web server (console and API) with gunicorn on TAIJI_HOST:TAIJI_PORT."""
    import gunicorn.config

    _metrics_env()
    if no_bootstrap:
        # Only `taiji up` passes it, having built the application (so checked every setting) itself.
        # This process then only reads where to listen: each gunicorn worker builds the application
        # (taiji.wsgi) after the fork, and the seconds of building it here were spent for nothing.
        settings = _kernel_settings()
    else:
        app = get_app()
        _ensure_admin(app)
        settings = app.config
    bind = f"{settings['HOST']}:{settings['PORT']}"
    # A thread per live stream beside the API's own (taiji.wsgi's gate keeps them apart); see
    # docs/operations.md, "Live streams".
    from taiji.platform.config import API_THREADS

    threads = API_THREADS + settings["LIVE_MAX_STREAMS"]
    # Requests are logged as JSON by the app itself, so gunicorn's access log stays off.
    args = ["gunicorn", "--bind", bind, "--workers", str(workers or settings["WEB_WORKERS"]),
            "--worker-class", "gthread", "--threads", str(threads), "--graceful-timeout", "10",
            "--worker-connections", str(max(1000, threads + 500)),
            "--config", "python:taiji.platform.gunicorn_conf",
            "--log-level", settings["LOG_LEVEL"].lower()]
    if any(setting.name == "control_socket_disable" for setting in gunicorn.config.KNOWN_SETTINGS):
        # One control socket per user by default: two installs on a machine would share it.
        args.append("--no-control-socket")
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", *args, "taiji.wsgi:app"])  # noqa: S606


def _kernel_settings() -> dict:
    """The kernel's settings from the environment, without building the application."""
    from taiji.platform.config import ConfigError, load

    try:
        return load()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


PLATFORM_QUEUE = "taiji"


def _enabled_modules() -> tuple[str, ...]:
    """The import paths of the enabled modules (ENABLED_MODULES, then TAIJI_EXTRA_MODULES), read
    without importing the application factory: that imports the metrics, which `taiji worker` and a
    module's own pool (`taiji runner`) point at the install's shared folder first (share_metrics)."""
    from taiji.platform.config import extra_modules

    return (*importlib.import_module("taiji.modules").ENABLED_MODULES, *extra_modules())


def _module_queues() -> list:
    """The queues the enabled modules' own commands consume, never a worker (Module.queues)."""
    return [queue for path in _enabled_modules() for queue in importlib.import_module(path).module.queues]


def _queue_commands() -> list[str]:
    """The names of the commands that consume them (`taiji runner`), each once, in module order."""
    return list(dict.fromkeys(queue.command for queue in _module_queues()))


@main.command(short_help="Run a background worker for the platform's own work.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=4, show_default=True,
              help="Tasks run at once (threads).")
@click.option("--queues", "-Q", default=PLATFORM_QUEUE, show_default=True,
              help="Queues to consume. Pipeline jobs are not among them: `taiji runner` runs those.")
def worker(concurrency, queues):
    """Run a background worker: event delivery, the transaction engine, notifications, mirrors and
    every other task of the platform itself. Pipeline jobs run in `taiji runner`, a pool of its own,
    so that long jobs never hold up the platform's work (a module's queue consumed by a command of
    its own, Module.queues, is refused here).
    """
    names = [name.strip() for name in queues.split(",") if name.strip()]
    for queue in _module_queues():
        if queue.name in names:
            raise click.UsageError(
                f"{queue.what} (queue {queue.name}) run in `taiji {queue.command}`, not in a worker: "
                "tasks that share a worker's threads hold up events, transactions and notifications "
                "while they run.")
    _metrics_env()
    app = get_app()
    celery = app.extensions["celery"]
    celery.worker_main(["worker", f"--loglevel={app.config['LOG_LEVEL']}", "--pool=threads",
                        f"--concurrency={concurrency}", "-Q", ",".join(names), "-n", "worker@%h",
                        "--without-gossip", "--without-mingle"])


@main.command(short_help="Run the scheduler (exactly one per install).")
def scheduler():
    """Run the scheduler: the periodic outbox relay, timers and clean-ups (run exactly one)."""
    _metrics_env()
    app = get_app()
    celery = app.extensions["celery"]
    celery.start(["beat", f"--loglevel={app.config['LOG_LEVEL']}"])


# -- administration ------------------------------------------------------------------------------


@main.group()
def db():
    """Manage the database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade():
    """Apply every pending migration."""
    _upgrade(get_app())
    click.echo("Database is up to date.")


@main.command("settings", short_help="List every TAIJI_* setting with its default and value.")
def show_settings():
    """List every TAIJI_* setting with its default and current value."""
    from taiji.platform.config import all_settings

    for setting in all_settings(_enabled_modules()):
        current = os.environ.get(setting.name) or ""
        if current and ("PASSWORD" in setting.name or "SECRET" in setting.name):
            current = "(secret)"
        elif current and setting.name.endswith("_URL"):
            current = _hide_password(current)
        click.echo(f"{setting.name}={current}\n    default: {setting.default}\n    {setting.help}")


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def add_module_commands(group: click.Group, module_paths) -> None:
    """The commands of the modules at ``module_paths`` (Module.cli_commands), beside the kernel's."""
    for path in module_paths:
        for command in importlib.import_module(path).module.cli_commands:
            existing = group.commands.get(command.name)
            both = isinstance(existing, click.Group) and isinstance(command, click.Group)
            if both and existing is not command:
                # Two modules' groups of one name (`taiji keys rotate` of IAM, `keys rotate-config`
                # of SCM) become one group with the commands of both, neither changed.
                command = click.Group(command.name, commands={**existing.commands, **command.commands},
                                      help=existing.help, short_help=existing.short_help)
            group.add_command(command)


def _add_enabled_module_commands() -> None:
    add_module_commands(main, _enabled_modules())


def run() -> None:
    """The `taiji` command: the application's start without the garbage collector's walks
    (taiji.platform.commands.starting); tests call ``main`` itself."""
    starting()
    main()


if __name__ == "__main__":
    run()
