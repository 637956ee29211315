"""`taiji pipelines …`: list, run and cancel pipelines from a shell on the server; `taiji runner`, the
pool that runs their jobs; `taiji demo`, the example services pushed and built on a fresh install."""

from __future__ import annotations

import sys

import click


def _tenant(slug: str):
    from taiji.modules.tm import services as tm

    return tm.get_tenant(slug)  # NotFound becomes the command's one-line error in _run


def _run(body):
    """Run ``body`` in the app's unit of work; a service error is a one-line message, exit 1."""
    from taiji.platform.commands import get_app, service_message
    from taiji.platform.db import db
    from taiji.platform.errors import ServiceError

    with get_app().app_context():
        try:
            result = body()
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(service_message(exc)) from exc
        db.session.commit()
        return result


@click.group()
def pipelines():
    """List, run and cancel pipelines."""


@pipelines.command("list")
@click.argument("tenant")
@click.option("--repository", help="Only this repository's pipelines.")
@click.option("--status", help="Only pipelines in this state (e.g. running, failed).")
@click.option("--ref", help="Only this branch, tag or full ref.")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
def list_command(tenant, repository, status, ref, limit):
    """The newest pipelines of TENANT, one line each."""
    from . import services

    def body():
        page = services.list_pipelines(_tenant(tenant), repository=repository, status=status, ref=ref,
                                       per_page=limit)
        return [(p.id, p.repository, p.number, p.ref, p.sha[:10], p.status, p.trigger) for p in page.items]

    rows = _run(body)
    if not rows:
        click.echo("No pipelines.")
    for row in rows:
        click.echo("{}\t{} #{}\t{}\t{}\t{}\t{}".format(*row))


@pipelines.command("run")
@click.argument("tenant")
@click.argument("repository")
@click.option("--ref", default="main", show_default=True, help="Branch, tag or commit to run.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="A variable for the jobs (repeatable).")
def run_command(tenant, repository, ref, variables):
    """Run REPOSITORY's .taiji.yml at --ref; a running `taiji runner` picks the jobs up."""
    from . import services

    pairs = {}
    for item in variables:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE.", param_hint="--var")
        pairs[name] = value

    def body():
        pipeline = services.run_pipeline(_tenant(tenant), repository, ref, variables=pairs)
        return pipeline.id, pipeline.status, pipeline.error

    pipeline_id, status, error = _run(body)
    click.echo(f"Pipeline {pipeline_id}: {status}" + (f" — {error}" if error else ""))


@pipelines.command("cancel")
@click.argument("tenant")
@click.argument("pipeline_id", type=int)
def cancel_command(tenant, pipeline_id):
    """Cancel a pipeline: its running jobs are killed, the others never start."""
    from . import services

    status = _run(lambda: services.cancel_pipeline(_tenant(tenant), pipeline_id).status)
    click.echo(f"Pipeline {pipeline_id}: {status}")


@click.command(short_help="Run pipeline jobs, in a pool of their own.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None,
              help="Jobs run at once (threads; default: TAIJI_CICD_MAX_JOBS + 2).")
def runner(concurrency):
    """Run pipeline jobs: a process of its own, whose threads do nothing else, beside `taiji worker`.

    How many jobs run at once on the whole platform is TAIJI_CICD_MAX_JOBS (the scheduler shares
    them fairly between tenants); give the runners together more slots than that, so that a job
    the scheduler starts never waits in the queue behind others.
    """
    from taiji.platform.commands import get_app
    from taiji.platform.config import share_metrics

    from .runners.builtin import QUEUE

    share_metrics()  # before the application (and with it the metrics) is built
    app = get_app()
    cap = app.config["CICD_MAX_JOBS"]
    concurrency = concurrency or cap + 2
    if concurrency < cap:
        click.echo(f"Note: this runner runs {concurrency} jobs at once, TAIJI_CICD_MAX_JOBS is {cap}: unless "
                   "other runners take the rest, started jobs wait in the queue in arrival order.", err=True)
    celery = app.extensions["celery"]
    celery.worker_main(["worker", f"--loglevel={app.config['LOG_LEVEL']}", "--pool=threads",
                        f"--concurrency={concurrency}", "-Q", QUEUE, "-n", "runner@%h",
                        "--without-gossip", "--without-mingle"])


@click.command(short_help="Seed the tenant `demo` with the example services and run them.")
@click.option("--base-url", help="Where Taiji serves (default: TAIJI_BASE_URL).")
@click.option("--wait", "wait_seconds", type=click.IntRange(min=0), default=180, show_default=True,
              help="Seconds to wait for the pipelines to start and finish (0: do not wait).")
@click.option("--new-password", is_flag=True,
              help="Give the demo owner a new password and show it (when the first one is lost).")
def demo(base_url, wait_seconds, new_password):
    """Create the tenant `demo`, its owner, a package index and one hosted repository per example
    service, push the services with git (so their pipelines run) and print where to look.

    Run it while `taiji up` (or `make run`) serves. The owner's password is shown as soon as the
    account exists. Run it again to finish what a first run could not (it says what is left, and
    exits with status 1); what exists is reused.
    """
    from taiji.modules.spm import services as spm
    from taiji.platform.commands import get_app

    from . import demo as seeding

    app = get_app()
    base_url = base_url or app.config["BASE_URL"]
    with app.app_context():
        try:
            result = seeding.run(base_url, wait=wait_seconds, echo=click.echo, new_password=new_password)
        except seeding.DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        spm.seed_demo_catalog(base_url, echo=click.echo)  # the example product in the catalog
    seeding.report(result, echo=click.echo)
    if not result.finished:
        sys.exit(1)
