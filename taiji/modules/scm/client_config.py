"""What a client is given: which release of (component, environment) an instance should hold, that
release's values, and the instances' reports — everything the client endpoints keep in memory
(``client_cache``) so that a read that changed nothing sends no query.

A *target* is (tenant, component ref, environment) resolved once: the component, the current
release and the running gray release (its selector or percentage). Which of the two an instance
gets is decided here per request, without the database, by the same rule as
``services.release_for``: the gray release when its selector matches the instance's labels or the
instance's stable bucket falls under its percentage (an instance without an id is never gray).
Release snapshots are immutable, so a rendered answer is kept per release number, namespace and —
only when a label-layer item could apply — the instance's labels.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from flask import current_app

from taiji.platform.errors import NotFound, ServiceError, msg

from . import client_cache, gray, services
from .services import adapters
from .services.releases import find_release
from .services.resolve import resolve

INSTANCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,99}$")
REPORT_SECONDS = 30.0  # an instance's report is written at most this often unless its release changed
_MAX_REPORTS = 100_000


class BadArgument(ServiceError):
    """A query argument the client got wrong: 400 naming it."""

    def __init__(self, message, name: str):
        super().__init__(message, errors={"query": {name: [message]}})


def environment_arg(value: str, name: str = "environment") -> str:
    if not services.names.ENVIRONMENT.match(value or ""):
        raise BadArgument(msg("'%(value)s' is not an environment name: lower-case letters, digits "
                              "and dashes (at most 32), such as dev or prod.", value=value[:64]), name)
    return value


def namespace_arg(value: str | None, name: str = "namespace") -> str | None:
    if value is None or value == "":
        return None
    if not services.names.NAMESPACE.match(value):
        raise BadArgument(msg("'%(value)s' is not a namespace name: lower-case letters, digits and "
                              "dashes (at most 63), such as application or db.", value=value[:80]), name)
    return value


def instance_arg(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not INSTANCE.match(value):
        raise BadArgument(msg("An instance id is at most 100 letters, digits and '_', '.', ':', "
                              "'@', '-', starting with a letter or digit."), "instance")
    return value


def labels_arg(value: str | None) -> dict | None:
    if value is None or value == "":
        return None
    if len(value) > 2000:
        raise BadArgument(msg("The labels are too long (at most 2000 characters)."), "labels")
    try:
        return gray.parse_labels(value)
    except gray.SelectorError as error:
        raise BadArgument(msg("Malformed labels: %(error)s", error=str(error)[:200]), "labels") from None


# -- targets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    tenant_values: tuple
    component_id: int
    component: str
    product: str
    environment: str
    current: int  # the current release's number; 0 when nothing is published
    gray: int  # the running gray release's number; 0 when none
    gray_selector: object  # its parsed label selector, or None
    gray_percentage: float | None
    labelled: bool  # a release here has label-layer items: the instance's labels shape its answer

    def number_for(self, instance: str | None, labels: dict | None) -> int:
        """The release an instance should hold (0: none yet)."""
        if self.gray and instance:
            if self.gray_selector is not None:
                if self.gray_selector.matches(labels or {}):
                    return self.gray
            elif adapters.in_gray(self.component_id, self.environment, instance, self.gray_percentage):
                return self.gray
        return self.current


def _has_labels(release) -> bool:
    return release is not None and any(entry.get("layer") == "label" for entry in release.snapshot or ())


def _load_target(tenant, ref: str, environment: str) -> Target:
    component = services.resolve_component(tenant, ref)
    current = services.current_release(tenant, component, environment)
    trial = services.gray_release(tenant, component, environment)
    selector = adapters.selector(trial.gray_selector) if trial is not None and trial.gray_selector else None
    return Target(
        tenant_values=(tenant.id, tenant.slug), component_id=component.id, component=component.name,
        product=component.product.slug, environment=environment,
        current=current.number if current is not None else 0, gray=trial.number if trial is not None else 0,
        gray_selector=selector, gray_percentage=trial.gray_percentage if trial is not None else None,
        labelled=_has_labels(current) or _has_labels(trial),
    )


def target(reader, ref: str, environment: str) -> Target:
    """(component, environment) of the reader's tenant, kept while its releases are unchanged."""
    return client_cache.cached(("target", reader.tenant_id, ref, environment), client_cache.TARGET_SLOTS,
                               lambda: _load_target(reader.tenant(), ref, environment))


def nothing_published(target_: Target) -> NotFound:
    return NotFound(msg("Nothing published for %(component)s in %(environment)s yet.",
                        component=target_.component, environment=target_.environment))


# -- resolved releases -----------------------------------------------------------------------------


def resolved(reader, target_: Target, number: int, labels: dict | None):
    """The resolved values (secrets decrypted) of release ``number`` for an instance with
    ``labels`` (``services.Resolved``)."""
    release = find_release(reader.tenant(), target_.component_id, target_.environment, number)
    if release is None:  # deleted meanwhile: the target is stale, the client asks again
        raise nothing_published(target_)
    return resolve(release.snapshot, labels=(labels or {}) if target_.labelled else None, decrypt=True)


def answer(reader, target_: Target, number: int, labels: dict | None, form: tuple, render):
    """``render(resolved)`` of release ``number`` -> (body bytes, anything), kept per release, ``form``
    (what was asked: namespace, format ...) and, where they matter, the labels."""
    labels_key = tuple(sorted((labels or {}).items())) if target_.labelled else None
    key = ("answer", target_.tenant_values[0], target_.component_id, target_.environment, number, labels_key,
           form)
    return client_cache.cached(key, client_cache.ANSWER_SLOTS,
                               lambda: render(resolved(reader, target_, number, labels)),
                               size=lambda value: len(value[0]))


# -- instances' reports ----------------------------------------------------------------------------

_reported: dict = {}
_reported_lock = threading.Lock()


def report(reader, target_: Target, instance: str | None, labels: dict | None, number: int) -> None:
    """Record that ``instance`` holds release ``number`` — at most every REPORT_SECONDS per instance and
    process, at once when its release or labels changed. Written in the request's unit of work."""
    if not instance:
        return
    key = (id(current_app._get_current_object()), target_.tenant_values[0], target_.component_id,
           target_.environment, instance)
    now = time.monotonic()
    seen = (number, tuple(sorted((labels or {}).items())))
    with _reported_lock:
        last = _reported.get(key)
        if last is not None and last[0] == seen and now - last[1] < REPORT_SECONDS:
            return
        if len(_reported) >= _MAX_REPORTS:
            _reported.clear()
        _reported[key] = (seen, now)
    services.record_instance(reader.tenant(), f"{target_.product}:{target_.component}", target_.environment,
                             instance, labels or {}, number or None)
