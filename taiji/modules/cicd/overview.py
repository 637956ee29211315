"""What the tenant overview shows of CI/CD (``taiji.platform.overview``): the latest pipelines, and
the default branches whose latest pipeline failed."""

from __future__ import annotations

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from taiji.platform.audit_sentences import Sentence
from taiji.platform.db import db
from taiji.platform.overview import Attention, Panel, Row

from .models import Pipeline
from .permissions import Perm

RECENT = 5
LOOKED_AT = 200  # the latest pipelines searched for a failed default branch
FAILED = ("failed", "error")
TONES = {"success": "green", "failed": "red", "error": "red", "running": "blue", "pending": "blue"}


def _word(status: str) -> str:
    return {"created": _("created"), "pending": _("pending"), "running": _("running"), "success": _("passed"),
            "failed": _("failed"), "canceled": _("canceled"), "error": _("error")}.get(status, status)


def _short(ref: str) -> str:
    return ref.removeprefix("refs/heads/").removeprefix("refs/tags/")


def _row(tenant, pipeline: Pipeline, title: str) -> Row:
    return Row(title, url_for("cicd.pipeline", tenant=tenant.slug, pipeline_id=pipeline.id),
               status=_word(pipeline.status), tone=TONES.get(pipeline.status, "secondary"),
               when=pipeline.finished_at or pipeline.created_at, detail=pipeline.sha[:10])


def recent(tenant, principal) -> list[Row]:
    rows = db.session.execute(sa.select(Pipeline).where(Pipeline.tenant_id == tenant.id)
                              .order_by(Pipeline.id.desc()).limit(RECENT)).scalars()
    return [_row(tenant, p, _("%(repository)s #%(number)s on %(ref)s", repository=p.repository,
                             number=p.number, ref=_short(p.ref))) for p in rows]


def failed_default_branches(tenant, principal) -> list[Row]:
    """Repositories whose default branch's latest pipeline failed (one row each)."""
    latest: dict[tuple[str, str], Pipeline] = {}
    for p in db.session.execute(sa.select(Pipeline).where(Pipeline.tenant_id == tenant.id)
                                .order_by(Pipeline.id.desc()).limit(LOOKED_AT)).scalars():
        latest.setdefault((p.repository, _short(p.ref)), p)
    from taiji.modules.vcs import services as vcs  # called at request time: no import cycle

    rows = []
    for (repository, ref), p in latest.items():
        if p.status not in FAILED or p.ref.startswith("refs/tags/"):
            continue
        repo = vcs.find_repository(tenant, repository)
        if repo is None or repo.default_branch != ref:
            continue
        rows.append(_row(tenant, p, _("The latest pipeline of %(repository)s on its default branch %(ref)s "
                                      "failed.", repository=repository, ref=ref)))
    return rows


OVERVIEW = [
    Panel("cicd.recent", _l("Recent pipelines"), recent, _l("No pipeline has run yet."),
          permission=Perm.PIPELINE_READ, order=10,
          more=lambda tenant: url_for("cicd.pipelines", tenant=tenant.slug)),
    Attention("cicd.failed_default", failed_default_branches, permission=Perm.PIPELINE_READ, order=20),
]


# -- the audit page's sentences for CI/CD's actions (taiji.platform.audit_sentences) ---------------

def _pipeline_link(entry, tenant):
    pipeline_id = (entry.details or {}).get("id")
    if tenant is None or not isinstance(pipeline_id, int):
        return None
    return url_for("cicd.pipeline", tenant=tenant.slug, pipeline_id=pipeline_id)


def _repository_pipelines(entry, tenant):
    repository = entry.target.partition("#")[0]
    return url_for("cicd.repository_pipelines", tenant=tenant.slug, repository=repository) if tenant else None


def _secrets(entry, tenant):
    return url_for("cicd.secrets", tenant=tenant.slug) if tenant is not None else None


def _controller(entry, tenant):
    name = entry.target.partition("/")[0]  # a trigger's target is "<controller>/<job>"
    return url_for("cicd_jenkins.controller", tenant=tenant.slug, controller=name) if tenant else None


def _controllers(entry, tenant):
    return url_for("cicd_jenkins.controllers_page", tenant=tenant.slug) if tenant is not None else None


def _runner_settings(entry, tenant):
    if tenant is None:
        return None
    return url_for("cicd_jenkins.repository_settings", tenant=tenant.slug, repository=entry.target)


def _trigger(entry) -> dict:
    controller, _slash, job = entry.target.partition("/")
    return {"controller": controller, "job": job or "?"}


def _runner(entry) -> dict:
    runner = (entry.details or {}).get("default_runner")
    words = {"platform": _l("Taiji's own runner"), "jenkins": "Jenkins"}
    return {"runner": str(words.get(runner, runner or "?"))}


SENTENCES = [
    Sentence("cicd.pipeline.create", _l("%(actor)s started the pipeline %(target)s on %(ref)s"),
             link=_pipeline_link),
    Sentence("cicd.pipeline.cancel", _l("%(actor)s canceled the pipeline %(target)s"),
             link=_repository_pipelines),
    Sentence("cicd.job.retry", _l("%(actor)s retried the job %(target)s"), link=_repository_pipelines),
    Sentence("cicd.job.cancel", _l("%(actor)s canceled the job %(target)s"), link=_repository_pipelines),
    Sentence("cicd.job.play", _l("%(actor)s started the manual job %(target)s"), link=_repository_pipelines),
    Sentence("cicd.secret.set", _l("%(actor)s set the CI secret %(target)s"), link=_secrets),
    Sentence("cicd.secret.delete", _l("%(actor)s deleted the CI secret %(target)s"), link=_secrets),
    Sentence("cicd.jenkins.create", _l("%(actor)s added the Jenkins controller %(target)s"),
             link=_controller),
    Sentence("cicd.jenkins.update", _l("%(actor)s changed the Jenkins controller %(target)s"),
             link=_controller),
    Sentence("cicd.jenkins.delete", _l("%(actor)s removed the Jenkins controller %(target)s"),
             link=_controllers),
    Sentence("cicd.jenkins.test", _l("%(actor)s tested the connection to the Jenkins controller %(target)s"),
             link=_controller),
    Sentence("cicd.jenkins.trigger", _l("%(actor)s started the Jenkins job %(job)s on %(controller)s"),
             _trigger, _controller),
    Sentence("cicd.repository.runner", _l("%(actor)s made %(runner)s the runner of %(target)s's jobs"),
             _runner, _runner_settings),
]
