"""A tenant's Jenkins controllers: register, change, remove, test; list their jobs and trigger one.

The API token is sealed at rest (``taiji.platform.crypto``) and never served back. The URL is
judged by the egress policy when saved (client.refusal) and again before every call (client.connect).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from taiji.platform import audit, crypto
from taiji.platform.db import db
from taiji.platform.errors import Conflict, NotFound, ServiceError, field_error, msg

from . import client
from .models import JenkinsController

PURPOSE = "cicd.jenkins.token"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
MAX_PARAMETERS = 50


class ControllerError(ServiceError):
    """The controller did not answer as asked (down, refused credentials, not a Jenkins)."""

    status = 502
    title = "Bad Gateway"


def list_controllers(tenant) -> list[JenkinsController]:
    return list(
        db.session.execute(
            sa.select(JenkinsController)
            .where(JenkinsController.tenant_id == tenant.id)
            .order_by(JenkinsController.name)
        ).scalars()
    )


def get_controller(tenant, name: str) -> JenkinsController:
    row = db.session.execute(
        sa.select(JenkinsController).where(
            JenkinsController.tenant_id == tenant.id, JenkinsController.name == name
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(msg("No Jenkins controller '%(name)s'.", name=name))
    return row


def find_controller(tenant_id: int, name: str | None) -> tuple[JenkinsController | None, str | None]:
    """The controller a job goes to: the one named, else the tenant's default, else its only one.
    Returns (controller, None) or (None, why there is none)."""
    rows = list(
        db.session.execute(
            sa.select(JenkinsController).where(JenkinsController.tenant_id == tenant_id)
        ).scalars()
    )
    if name:
        found = next((row for row in rows if row.name == name), None)
        if found is None:
            return None, f"this tenant has no Jenkins controller named '{name}'"
        return found, None
    if not rows:
        return None, (
            "this tenant has no Jenkins controller; an owner or admin registers one under Pipelines → Jenkins"
        )
    defaults = [row for row in rows if row.is_default]
    if defaults:
        return defaults[0], None
    if len(rows) == 1:
        return rows[0], None
    return None, (
        f"this tenant has {len(rows)} Jenkins controllers and none is the default; name one with "
        "`jenkins: {controller: NAME}` or mark one as the default"
    )


def handle(row: JenkinsController) -> client.Controller:
    """The controller with its token unsealed, for one conversation."""
    return client.Controller(
        row.name, row.url, row.username, crypto.unseal(row.sealed_token, PURPOSE).decode()
    )


def _check(data: dict, *, creating: bool) -> dict:
    out = {}
    if creating or "name" in data:
        name = (data.get("name") or "").strip()
        if not NAME_PATTERN.match(name):
            raise field_error("name", msg("Use lower-case letters, digits, '.', '_' and '-' (at most 100)."))
        out["name"] = name
    if creating or "url" in data:
        try:
            url = client.check_url(data.get("url") or "")
        except ValueError as exc:
            raise field_error("url", str(exc)) from None
        if len(url) > 500:
            raise field_error("url", msg("The URL must be at most 500 characters."))
        # A name that does not resolve from here (yet) is let through; every call checks again.
        why = client.refusal(url, unresolved_ok=True)
        if why:
            raise field_error("url", why)
        out["url"] = url
    if creating or "username" in data:
        username = (data.get("username") or "").strip()
        if not username or len(username) > 200 or client.CONTROL.search(username):
            raise field_error("username", msg("Give the Jenkins user Taiji acts as (at most 200 "
                                              "characters)."))
        out["username"] = username
    if creating or data.get("token"):
        token = data.get("token") or ""
        if not token or len(token) > 500 or client.CONTROL.search(token):
            raise field_error("token", msg("Give the user's API token (at most 500 characters)."))
        out["token"] = token
    if "description" in data:
        out["description"] = (data.get("description") or "").strip()[:500]
    if "is_default" in data and data["is_default"] is not None:
        out["is_default"] = bool(data["is_default"])
    return out


def _only_default(tenant, row: JenkinsController) -> None:
    if row.is_default:
        db.session.execute(
            sa.update(JenkinsController)
            .where(JenkinsController.tenant_id == tenant.id, JenkinsController.id != row.id)
            .values(is_default=False)
            .execution_options(synchronize_session="fetch")
        )


def create_controller(tenant, data: dict, *, actor=None) -> JenkinsController:
    """Register a controller (its URL checked by the egress policy, the token sealed)."""
    values = _check(data, creating=True)
    exists = db.session.execute(
        sa.select(JenkinsController.id).where(
            JenkinsController.tenant_id == tenant.id, JenkinsController.name == values["name"]
        )
    ).scalar()
    if exists is not None:
        raise Conflict(msg("A Jenkins controller named '%(name)s' exists already.", name=values['name']))
    row = JenkinsController(
        tenant_id=tenant.id,
        name=values["name"],
        url=values["url"],
        username=values["username"],
        sealed_token=crypto.seal(values["token"], PURPOSE),
        description=values.get("description", ""),
        is_default=values.get("is_default", False),
        updated_by_email=getattr(actor, "email", None),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:  # registered at the same moment by someone else
        raise Conflict(msg("A Jenkins controller named '%(name)s' exists already.",
                           name=values['name'])) from None
    _only_default(tenant, row)
    audit.record(
        "cicd.jenkins.create",
        "cicd_jenkins_controller",
        row.name,
        tenant=tenant,
        actor=actor,
        details={"url": row.url, "username": row.username, "default": row.is_default},
    )
    return row


def update_controller(tenant, row: JenkinsController, data: dict, *, actor=None) -> JenkinsController:
    """Change a controller; a token left out keeps the one stored."""
    values = _check(data, creating=False)
    if "name" in values and values["name"] != row.name:
        raise field_error("name", msg("A controller keeps its name; register a new one instead."))
    changed = sorted(k for k in values if k != "name")
    for key in ("url", "username", "description", "is_default"):
        if key in values:
            setattr(row, key, values[key])
    if "token" in values:
        row.sealed_token = crypto.seal(values["token"], PURPOSE)
    row.updated_by_email = getattr(actor, "email", None)
    db.session.flush()
    _only_default(tenant, row)
    audit.record(
        "cicd.jenkins.update",
        "cicd_jenkins_controller",
        row.name,
        tenant=tenant,
        actor=actor,
        details={"changed": changed, "url": row.url, "username": row.username, "default": row.is_default},
    )
    return row


def delete_controller(tenant, row: JenkinsController, *, actor=None) -> None:
    """Remove a controller; the builds it ran keep their logs (their link to it is cleared)."""
    name = row.name
    db.session.delete(row)
    db.session.flush()
    audit.record("cicd.jenkins.delete", "cicd_jenkins_controller", name, tenant=tenant, actor=actor)


def test_connection(tenant, row: JenkinsController, *, actor=None) -> dict:
    """Talk to the controller as the stored user: {ok, kind, message, version, user}."""
    controller = handle(row)
    result = {"ok": False, "kind": None, "message": "", "version": None, "user": None}
    try:
        server = client.connect(controller)
        response = client.request(
            server,
            "GET",
            "api/json?tree=mode,nodeDescription",
        )
        version = response.headers.get("X-Jenkins")
        if not version:
            raise client.JenkinsError(
                f"{client._where(row.url)} answered, but it is not a Jenkins (no X-Jenkins header); is the "
                "URL the controller's?",
                client.NOT_JENKINS,
            )
        response.json()
        who = client.request(server, "GET", "me/api/json?tree=id,fullName").json()
        user = who.get("id") if isinstance(who, dict) else None
        if not user or user == "anonymous":
            raise client.JenkinsError(
                f"Jenkins controller '{row.name}' took the request as anonymous: the user "
                f"'{row.username}' and its API token were not accepted.",
                client.CREDENTIALS,
            )
        result.update(
            ok=True, version=version, user=user, message=f"Connected to Jenkins {version} as {user}."
        )
    except Exception as exc:  # every failure is an answer for the person who asked
        error = client.explain(exc, controller)
        result.update(kind=error.kind, message=str(error))
    audit.record(
        "cicd.jenkins.test",
        "cicd_jenkins_controller",
        row.name,
        tenant=tenant,
        actor=actor,
        details={"ok": result["ok"], "kind": result["kind"]},
    )
    return result


def list_remote_jobs(tenant, row: JenkinsController) -> list[dict]:
    """The controller's jobs (top level), each with its last build. Raises JenkinsError."""
    controller = handle(row)
    tree = "jobs[name,url,color,_class,lastBuild[number,result,building,timestamp,duration,url]]"
    try:
        server = client.connect(controller)
        info = client.request(server, "GET", f"api/json?tree={tree}").json()
    except Exception as exc:
        raise ControllerError(client.explain(exc, controller).message) from None
    jobs = []
    for job in (info.get("jobs") if isinstance(info, dict) else None) or []:
        if not isinstance(job, dict) or not isinstance(job.get("name"), str):
            continue
        last = job.get("lastBuild") if isinstance(job.get("lastBuild"), dict) else None
        jobs.append(
            {
                "name": job["name"],
                "url": client.web_url(job.get("url")),
                "color": job.get("color") if isinstance(job.get("color"), str) else None,
                "last_build": {
                    "number": last.get("number"),
                    "result": last.get("result"),
                    "building": bool(last.get("building")),
                    "timestamp": last.get("timestamp"),
                    "duration": last.get("duration"),
                    "url": client.web_url(last.get("url")),
                }
                if last
                else None,
            }
        )
    return jobs


def check_parameters(parameters) -> dict[str, str]:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict) or len(parameters) > MAX_PARAMETERS:
        raise field_error(
            "parameters", msg("Parameters are an object of at most %(max_parameters)s names to text.",
                              max_parameters=MAX_PARAMETERS)
        )
    out = {}
    for name, value in parameters.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$", str(name)):
            raise field_error("parameters", msg("'%(name)s' is not a parameter name.", name=name))
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > 10_000:
            raise field_error("parameters", msg("'%(name)s' must be text of at most 10000 characters.",
                                                name=name))
        out[str(name)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def trigger_remote_job(
    tenant, row: JenkinsController, job: str, parameters: dict | None, *, actor=None
) -> dict:
    """Queue a build of one of the controller's own jobs; returns {queue_id, queue_url}."""
    if not job or len(job) > 255 or client.CONTROL.search(job) or ".." in job.split("/"):
        raise field_error("job", msg("Name one of the controller's jobs."))
    parameters = check_parameters(parameters)
    controller = handle(row)
    try:
        server = client.connect(controller)
        queue_id = trigger(server, job, parameters)
    except Exception as exc:
        error = client.explain(exc, controller)
        if error.kind == client.NOT_FOUND:
            raise NotFound(msg("Jenkins controller '%(name)s' has no job '%(job)s'.",
                               name=row.name, job=job)) from None
        raise ControllerError(str(error)) from None
    audit.record(
        "cicd.jenkins.trigger",
        "cicd_jenkins_controller",
        f"{row.name}/{job}",
        tenant=tenant,
        actor=actor,
        details={"queue_id": queue_id, "parameters": sorted(parameters)},
    )
    return {"queue_id": queue_id, "queue_url": f"{row.url}/queue/item/{queue_id}/"}


def trigger(server, job: str, parameters: dict[str, str]) -> int:
    """buildWithParameters (values in the POST body, never the URL: they may be secrets), or build;
    returns the queue item's number from the Location header."""
    path = client.job_path(job) + ("buildWithParameters" if parameters else "build")
    response = client.request(server, "POST", path, data=parameters or None)
    location = response.headers.get("Location") or ""
    match = re.search(r"/queue/item/(\d+)/?$", location)
    if not match:
        raise client.JenkinsError(
            f"Jenkins did not queue job '{job}' (HTTP {response.status_code}, no queue item in Location).",
            client.NOT_JENKINS,
        )
    return int(match.group(1))
