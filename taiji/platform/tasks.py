"""The one Celery application.

Tasks are named ``<code>.<verb_noun>``, take ids, run ``acks_late`` and do their work in
their own unit of work: commit when the task returns, roll back when it raises. The
embedded default broker is kombu's filesystem transport, which needs no server.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta
from pathlib import Path

from celery import Celery, Task
from celery.signals import task_failure, task_prerun, task_retry, task_success
from kombu import Connection
from kombu.transport import TRANSPORT_ALIASES

from taiji.platform import config as config_mod

# The embedded broker writes each message whole before a consumer can claim it (fsbroker.py).
TRANSPORT_ALIASES["filesystem"] = "taiji.platform.fsbroker:Transport"

log = logging.getLogger("taiji.tasks")


# How often a task SQLite refused for another writer runs again (db.py says why), and the first
# pause; the pauses double, with jitter so that two refused tasks do not meet again.
BUSY_RETRIES = 5
BUSY_PAUSE = 0.05


class UnitOfWorkTask(Task):
    abstract = True

    def __call__(self, *args, **kwargs):
        from taiji.platform.db import counting_commits, db, is_sqlite_busy, write_lock_first

        app = self.app.flask_app
        for attempt in range(BUSY_RETRIES + 1):
            # The first run reads with a deferred BEGIN; a run again after SQLite refused it takes
            # the write lock at BEGIN, which cannot be refused that way again.
            with app.app_context(), write_lock_first(attempt > 0), counting_commits() as commits:
                try:
                    result = super().__call__(*args, **kwargs)
                    db.session.commit()
                    return result
                except BaseException as exc:
                    db.session.rollback()
                    # Only a task whose work is all in this one unit is run again: one that
                    # committed part of it (a pipeline job) retries its own writes.
                    if not (is_sqlite_busy(exc) and commits[0] == 0 and attempt < BUSY_RETRIES):
                        raise
                    log.info("database busy; running the task again",
                             extra={"task": self.name, "attempt": attempt + 1})
                finally:
                    db.session.remove()
            time.sleep(BUSY_PAUSE * 2**attempt * random.uniform(0.5, 1.5))  # jitter
        raise AssertionError("unreachable")


celery = Celery("taiji", task_cls=UnitOfWorkTask)
celery.flask_app = None


BEAT_SCHEDULE = {
    "relay-outbox": {"task": "platform.relay_outbox", "schedule": timedelta(seconds=10)},
    "purge-idempotency": {"task": "platform.purge_idempotency", "schedule": timedelta(hours=1)},
    "purge-outbox": {"task": "platform.purge_outbox", "schedule": timedelta(hours=6)},
    "tx-process-due": {"task": "tx.process_due", "schedule": timedelta(seconds=5)},
    "cicd-reap-jobs": {"task": "cicd.reap_jobs", "schedule": timedelta(seconds=15)},
    "cicd-run-schedules": {"task": "cicd.run_schedules", "schedule": timedelta(minutes=1)},
    "cicd-expire-artifacts": {"task": "cicd.expire_artifacts", "schedule": timedelta(hours=1)},
    "cicd-poll-jenkins": {"task": "cicd.poll_jenkins", "schedule": timedelta(seconds=3)},
}


def init_celery(app) -> Celery:
    """Point the Celery app at ``app``'s broker; the last Flask app created wins."""
    data_dir = Path(app.config["DATA_DIR"])
    broker_url = app.config["BROKER_URL"]
    options = config_mod.broker_options(broker_url, data_dir)
    if celery.conf.broker_url != broker_url or celery.conf.broker_transport_options != options:
        # Connection and producer pools are cached on first use; a second app in the same
        # process (tests, `taiji` commands) must not keep sending to the first one's broker.
        celery.close()
        celery.amqp._producer_pool = None
    celery.conf.update(
        broker_url=broker_url,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_always_eager=app.config.get("CELERY_ALWAYS_EAGER", False),
        task_default_queue="taiji",
        beat_schedule=BEAT_SCHEDULE,
        beat_schedule_filename=str(data_dir / "celerybeat-schedule"),
        timezone="UTC",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_timeout=3,
    )
    celery.flask_app = app
    app.extensions["celery"] = celery
    return celery


def broker_reachable(broker_url: str, data_dir: Path, timeout: float = 2.0) -> bool:
    """One connection attempt to the broker, without the retries a sender would make."""
    try:
        with Connection(broker_url, connect_timeout=timeout,
                        transport_options=config_mod.broker_options(broker_url, data_dir)) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout)
        return True
    except Exception:  # any transport error means "not ready"
        log.warning("broker not reachable", extra={"broker": _redacted(broker_url)})
        return False


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url


@task_prerun.connect
def _on_prerun(sender=None, **_):
    from taiji.platform import observability

    observability.TASKS_STARTED.labels(task=sender.name).inc()


@task_success.connect
def _on_success(sender=None, **_):
    from taiji.platform import observability

    observability.TASKS_DONE.labels(task=sender.name, outcome="success").inc()


@task_failure.connect
def _on_failure(sender=None, **_):
    from taiji.platform import observability

    observability.TASKS_DONE.labels(task=sender.name, outcome="failure").inc()


@task_retry.connect
def _on_retry(sender=None, **_):
    from taiji.platform import observability

    observability.TASKS_DONE.labels(task=sender.name, outcome="retry").inc()
