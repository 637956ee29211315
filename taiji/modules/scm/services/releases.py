"""Immutable, numbered releases of a component's configuration in an environment: publish (with
four-eyes and gray), approve, reject, promote, abandon, roll back; which release an instance gets."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform import audit, events, live
from taiji.platform.db import Page, db, paginate, utcnow
from taiji.platform.errors import Conflict, Forbidden, NotFound, field_error, msg

from ..events import RELEASE_PUBLISHED, RELEASE_ROLLED_BACK
from ..models import Release
from . import adapters, history, names, policies
from .components import register, resolve_component
from .items import entries
from .resolve import resolve
from .storage import insert

LIVE_KIND = "scm.config"


def _id(component) -> int:
    """A component's id (queries here take an SPM component or its id)."""
    return component if isinstance(component, int) else component.id


def _releases(tenant, component_id: int, environment: str):
    return sa.select(Release).where(Release.tenant_id == tenant.id, Release.component_id == component_id,
                                    Release.environment == environment)


def list_releases(tenant, component, environment, page: int = 1, page_size: int = 20) -> Page[Release]:
    component = resolve_component(tenant, component)
    stmt = _releases(tenant, _id(component), names.environment(environment))
    return paginate(stmt.order_by(Release.number.desc()), page, page_size)


def find_release(tenant, component, environment: str, number: int) -> Release | None:
    return db.session.execute(
        _releases(tenant, _id(component), environment).where(Release.number == number)).scalar_one_or_none()


def get_release(tenant, component, environment, number) -> Release:
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    release = find_release(tenant, component, environment, number) if isinstance(number, int) else None
    if release is None:
        raise NotFound(msg("No release #%(number)s of %(component)s in %(environment)s.", number=number,
                           component=component.name, environment=environment))
    return release


def current_release(tenant, component, environment: str) -> Release | None:
    """The release every instance gets (unless gray selects it): the one published last."""
    return db.session.execute(
        _releases(tenant, _id(component), environment).where(Release.status == "published")
        .order_by(Release.published_at.desc(), Release.number.desc()).limit(1)
    ).scalar_one_or_none()


def gray_release(tenant, component, environment: str) -> Release | None:
    return db.session.execute(
        _releases(tenant, _id(component), environment).where(Release.status == "gray").limit(1)
    ).scalar_one_or_none()


def _pending(tenant, component, environment: str) -> Release | None:
    return db.session.execute(
        _releases(tenant, _id(component), environment).where(Release.status == "pending").limit(1)
    ).scalar_one_or_none()


def _gray_rule(gray) -> tuple[str | None, float | None]:
    if gray is None:
        return None, None
    if not isinstance(gray, dict) or set(gray) - {"selector", "percentage"}:
        raise field_error("gray", msg("Gray is {\"selector\": \"zone=bj\"} or {\"percentage\": 20}."))
    selector, percentage = gray.get("selector"), gray.get("percentage")
    if (selector is None) == (percentage is None):
        raise field_error("gray", msg("Give a gray release either a label selector or a percentage."))
    if selector is not None:
        adapters.selector(selector, "gray.selector")
        return selector.strip(), None
    return None, adapters.percentage(percentage)


def _announce(tenant, release: Release, actor) -> None:
    """The event and the live notice of a release that became current or gray."""
    events.publish(RELEASE_PUBLISHED, {
        "tenant": tenant.slug, "component": release.component, "product": release.product,
        "environment": release.environment, "number": release.number, "gray": release.status == "gray",
        "author": history.actor_name(actor),
    }, tenant=tenant)
    notify(tenant, release.component_id, release.environment, release.number)


def notify(tenant, component_id: int, environment: str, number: int) -> None:
    live.publish(live_topic(tenant, component_id, environment), {"release": number})


def live_topic(tenant, component_id: int, environment: str) -> str:
    """The live topic of (component, environment): clients waiting for a new release listen to it."""
    return live.topic(tenant, LIVE_KIND, f"c{component_id}-{environment}")


def _audit(tenant, actor, action: str, release: Release, **details) -> None:
    audit.record(f"scm.release.{action}", "config-release",
                 f"{release.product}/{release.component}@{release.environment}#{release.number}",
                 tenant=tenant, actor=actor, details={"number": release.number, **details})


def _next_number(tenant, component, environment: str) -> int:
    top = db.session.execute(
        sa.select(sa.func.max(Release.number)).where(Release.tenant_id == tenant.id,
                                                     Release.component_id == _id(component),
                                                     Release.environment == environment)).scalar()
    return (top or 0) + 1


def _check_schema(tenant, component, snapshot: list[dict]) -> None:
    resolved = resolve(snapshot, decrypt=True)
    application = resolved.namespaces.get("application", {})
    policies.check_schema(tenant, component, {k: v.value for k, v in application.items()},
                          secret_keys={k for k, v in application.items() if v.secret})


def publish(tenant, actor, component, environment, *, comment="", gray=None) -> Release:
    """Freeze the draft as the next numbered release: ``pending`` when the environment wants four
    eyes, else ``gray`` (given a selector or percentage) or ``published`` (current)."""
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    comment = comment or ""
    if not isinstance(comment, str) or len(comment) > 2000:
        raise field_error("comment", msg("A comment is a text of at most 2000 characters."))
    selector, percentage = _gray_rule(gray)
    pending = _pending(tenant, component, environment)
    if pending is not None:
        raise Conflict(msg("Release #%(number)s awaits approval; approve or reject it first.",
                           number=pending.number))
    if (selector or percentage) and gray_release(tenant, component, environment) is not None:
        raise Conflict(msg("A gray release is running; promote or abandon it first."))
    snapshot = entries(tenant, component, environment)
    _check_schema(tenant, component, snapshot)
    register(tenant, component)
    release = Release(
        tenant_id=tenant.id, component_id=component.id, product_id=component.product_id,
        component=component.name, product=component.product.slug, environment=environment,
        number=_next_number(tenant, component, environment), comment=comment,
        author_id=getattr(actor, "user_id", None) or getattr(actor, "id", None),
        author=history.actor_name(actor), gray_selector=selector, gray_percentage=percentage,
        snapshot=snapshot,
    )
    four_eyes = policies.four_eyes(tenant, environment)
    release.status = "pending" if four_eyes else ("gray" if selector or percentage else "published")
    if release.status == "published":
        release.published_at = utcnow()
    if not insert(release):
        raise Conflict(msg("Another release of %(component)s in %(environment)s was made meanwhile; "
                           "look at the releases and publish again.", component=component.name,
                           environment=environment))
    history.record_release(tenant, actor, f"release.{release.status}", release, {"comment": comment[:200]})
    _audit(tenant, actor, "created", release, status=release.status, gray=release.gray)
    if release.status != "pending":
        _announce(tenant, release, actor)
    return release


def _expect(release: Release, *statuses: str) -> None:
    if release.status not in statuses:
        raise Conflict(msg("Release #%(number)s is %(status)s.", number=release.number,
                           status=release.status))


def approve(tenant, actor, release: Release) -> Release:
    """A second person publishes a pending release (the author may not)."""
    _expect(release, "pending")
    who = getattr(actor, "user_id", None) or getattr(actor, "id", None)
    if (release.author_id is not None and who == release.author_id) or \
            history.actor_name(actor) == release.author:
        raise Forbidden(msg("The environment %(environment)s wants four eyes: someone other than the "
                            "author of release #%(number)s must approve it.",
                            environment=release.environment, number=release.number))
    if release.gray is not None and gray_release(tenant, release.component_id, release.environment):
        raise Conflict(msg("A gray release is running; promote or abandon it first."))
    release.reviewer = history.actor_name(actor)
    release.status = "gray" if release.gray is not None else "published"
    if release.status == "published":
        release.published_at = utcnow()
    db.session.flush()
    history.record_release(tenant, actor, "release.approved", release)
    _audit(tenant, actor, "approved", release)
    _announce(tenant, release, actor)
    return release


def reject(tenant, actor, release: Release) -> Release:
    _expect(release, "pending")
    release.status, release.reviewer, release.closed_at = "rejected", history.actor_name(actor), utcnow()
    db.session.flush()
    history.record_release(tenant, actor, "release.rejected", release)
    _audit(tenant, actor, "rejected", release)
    return release


def promote(tenant, actor, release: Release) -> Release:
    """A gray release becomes current for every instance."""
    _expect(release, "gray")
    release.status, release.published_at = "published", utcnow()
    db.session.flush()
    history.record_release(tenant, actor, "release.promoted", release)
    _audit(tenant, actor, "promoted", release)
    _announce(tenant, release, actor)
    return release


def abandon(tenant, actor, release: Release) -> Release:
    """A gray release ends; its instances go back to the current release."""
    _expect(release, "gray")
    release.status, release.closed_at = "abandoned", utcnow()
    db.session.flush()
    history.record_release(tenant, actor, "release.abandoned", release)
    _audit(tenant, actor, "abandoned", release)
    current = current_release(tenant, release.component_id, release.environment)
    notify(tenant, release.component_id, release.environment, current.number if current else 0)
    return release


def rollback(tenant, actor, release: Release, *, comment="") -> Release:
    """A new release copying ``release``'s snapshot, current at once (not subject to four eyes)."""
    if release.status in ("pending", "rejected"):
        raise Conflict(msg("Release #%(number)s was never published; roll back to a published one.",
                           number=release.number))
    comment = comment or ""
    if not isinstance(comment, str) or len(comment) > 2000:
        raise field_error("comment", msg("A comment is a text of at most 2000 characters."))
    copy = Release(
        tenant_id=tenant.id, component_id=release.component_id, product_id=release.product_id,
        component=release.component, product=release.product, environment=release.environment,
        number=_next_number(tenant, release.component_id, release.environment), status="published",
        comment=comment or f"Rollback to #{release.number}",
        author_id=getattr(actor, "user_id", None) or getattr(actor, "id", None),
        author=history.actor_name(actor), rolled_back_from=release.number, snapshot=list(release.snapshot),
        published_at=utcnow(),
    )
    if not insert(copy):
        raise Conflict(msg("Another release of %(component)s in %(environment)s was made meanwhile; "
                           "look at the releases and roll back again.", component=release.component,
                           environment=release.environment))
    history.record_release(tenant, actor, "release.rolled_back", copy, {"from": release.number})
    _audit(tenant, actor, "rolled_back", copy, from_number=release.number)
    events.publish(RELEASE_ROLLED_BACK, {
        "tenant": tenant.slug, "component": copy.component, "product": copy.product,
        "environment": copy.environment, "number": copy.number, "from_number": release.number,
        "author": copy.author,
    }, tenant=tenant)
    notify(tenant, copy.component_id, copy.environment, copy.number)
    return copy


def release_for(tenant, component, environment, *, instance=None, labels=None) -> Release | None:
    """The release an instance should hold: the gray one when it selects the instance, else the
    current one. Without an instance id an instance is never gray."""
    component = resolve_component(tenant, component)
    gray = gray_release(tenant, component, environment)
    if gray is not None and instance:
        if gray.gray_selector is not None:
            if adapters.selector(gray.gray_selector).matches(labels or {}):
                return gray
        elif adapters.in_gray(component.id, environment, instance, gray.gray_percentage):
            return gray
    return current_release(tenant, component, environment)
