"""`taiji pipelines …`: list, run and cancel pipelines from a shell on the server."""

from __future__ import annotations

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
    """Run REPOSITORY's .taiji.yml at --ref; a running `taiji worker` picks the jobs up."""
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
