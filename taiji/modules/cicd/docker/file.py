"""`image:` and `services:` of `.taiji.yml`: checked and normalised for the docker runner.

Checks return (path in the file, message) pairs; pipeline_file.py turns the path into its line.
"""

from __future__ import annotations

import shlex

from taiji.platform.errors import Msg, msg

from .reference import default_alias, parse_reference


def image_errors(image, base: tuple, what: str | Msg) -> list[tuple[tuple, Msg]]:
    """An `image:` (a reference, or {name, credentials}) Docker would refuse."""
    if image is None:
        return []
    reference = image["name"] if isinstance(image, dict) else image
    path = (*base, "image", "name") if isinstance(image, dict) else (*base, "image")
    try:
        parse_reference(reference)
    except ValueError as exc:
        return [(path, msg("%(what)s image: %(reason)s", what=what, reason=str(exc)))]
    return []


def job_errors(name: str, job: dict) -> list[tuple[tuple, Msg]]:
    """The job's image; its services' images, aliases (unique) and commands (splittable)."""
    base = ("jobs", name)
    errors = image_errors(job.get("image"), base, msg("job '%(name)s'", name=name))
    aliases: set[str] = set()
    for index, item in enumerate(job.get("services") or []):
        path = (*base, "services", index)
        item = {"name": item} if isinstance(item, str) else item
        try:
            alias = item.get("alias") or default_alias(item["name"])
        except ValueError as exc:
            errors.append((path, msg("job '%(name)s' services: %(reason)s", name=name, reason=str(exc))))
            continue
        if alias in aliases:
            errors.append((path, msg("job '%(name)s' services: two services are called '%(alias)s'; give one "
                                     "of them another alias", name=name, alias=alias)))
        aliases.add(alias)
        for key in ("command", "entrypoint"):
            if isinstance(item.get(key), str):
                try:
                    shlex.split(item[key])
                except ValueError as exc:
                    errors.append(((*path, key), msg("job '%(name)s' services %(key)s: %(reason)s", name=name,
                                                     key=key, reason=str(exc))))
    return errors


def services_spec(job: dict) -> dict:
    """`services` as the docker runner reads them (absent when the job has none)."""
    services = []
    for item in job.get("services") or []:
        if isinstance(item, str):
            item = {"name": item}
        env = {**(item.get("variables") or {}), **(item.get("env") or {})}
        services.append(
            {
                "image": item["name"],
                "credentials": item.get("credentials"),
                "alias": item.get("alias"),
                "env": {k: _text(v) for k, v in env.items()},
                "command": _argv(item.get("command")),
                "entrypoint": _argv(item.get("entrypoint")),
            }
        )
    return {"services": services} if services else {}


def _argv(value) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
