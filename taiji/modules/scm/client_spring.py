"""The Spring Cloud Config server API under ``/spring/<tenant>/``, so that a Spring Boot application
uses Taiji as its config server unchanged (``spring.config.import=configserver:<url>/spring/<tenant>``).

- ``GET /spring/<tenant>/<application>/<profiles>[/<label>]`` -> the ``Environment`` JSON:
  ``{"name", "profiles", "label", "version", "state", "propertySources": [{"name", "source"}]}``,
  highest precedence first, as Spring's client expects. ``application`` is a component (``name`` or
  ``product:name``), each profile an environment (comma-separated: the last wins, so its sources
  come first), the label a namespace (default: every namespace; ``(_)`` stands for ``/``; one
  that no release has -> 404). Within a profile the sources are its namespaces (``application``
  first, then the others in reverse alphabetical order, as ``/config``'s merge ranks them), each
  split into its layers: environment, component, product, tenant. ``version`` lists the release
  numbers served, one per profile. Both ``application/json`` and Spring's
  ``application/vnd.spring-cloud.config-server.v2+json`` are answered.
- ``GET /spring/<tenant>/[<label>/]<application>-<profiles>.yml|.yaml|.properties|.json`` -> the same
  sources merged into one document (YAML and JSON nested by the dots of the keys).

A profile the caller's access key does not read, or with nothing published, contributes no source;
when no profile contributes, the answer is 404. Authentication as for ``/config`` (client_auth):
Spring's client sends the key as the Basic password (``spring.cloud.config.password``) or as
``X-Config-Token`` (``spring.cloud.config.token``).
"""

from __future__ import annotations

import json

from flask import Blueprint, request

from taiji.platform import auth
from taiji.platform.errors import NotFound, ServiceError, msg

from . import client_api, client_auth, client_config, formats
from .permissions import Perm

bp = Blueprint("scm_spring", __name__)
client_api.install_error_handlers(bp)

V2_JSON = "application/vnd.spring-cloud.config-server.v2+json"
LAYER_ORDER = ("environment", "component", "product", "tenant")  # highest precedence first
EXTENSIONS = {"yml": "yaml", "yaml": "yaml", "properties": "properties", "json": "json"}
MAX_PROFILES = 10


def _profiles(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names or len(names) > MAX_PROFILES:
        raise client_config.BadArgument(msg("Give one to %(count)s profiles (environments), "
                                            "comma-separated.", count=MAX_PROFILES), "profiles")
    return [client_config.environment_arg(name, "profiles") for name in names]


def _label(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    label = text.replace("(_)", "/")
    if "/" in label:  # no namespace has one
        raise NotFound(msg("No label '%(label)s': a label is a namespace name.", label=label))
    return client_config.namespace_arg(label, "label")


def _namespace_order(names) -> list[str]:
    """Highest precedence first: ``application``, then the others in reverse alphabetical order."""
    others = sorted((n for n in names if n != "application"), reverse=True)
    return (["application"] if "application" in names else []) + others


def _scalar(value):
    return value if isinstance(value, (str, int, float, bool)) or value is None else \
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sources(target, number: int, label: str | None):
    """Renders one profile's property sources of release ``number`` (kept per release)."""

    def render(resolved):
        names = _namespace_order(resolved.layers) if label is None else \
            ([label] if label in resolved.layers else [])
        out = []
        for ns in names:
            suffix = "" if ns == "application" else f"/{ns}"
            for layer in LAYER_ORDER:
                values = resolved.layers[ns].get(layer)
                if values:
                    where = f"{target.tenant_values[1]}/{target.component}-{target.environment}{suffix}"
                    name = f"taiji:{where} ({layer})"
                    out.append({"name": name, "source": {k: _scalar(v) for k, v in sorted(values.items())}})
        body = json.dumps(out, ensure_ascii=False).encode()
        return body, (out, label is None or label in resolved.layers)

    return render


def _environment(tenant_slug: str, application: str, profiles_text: str, label_text: str | None):
    """(the Environment as a dict, its parts' release numbers) for the caller."""
    caller = client_auth.reader(tenant_slug, None)
    profiles = _profiles(profiles_text)
    label = _label(label_text)
    readable = [p for p in profiles if client_auth.may_read(caller, p)]
    if not readable:
        raise NotFound(client_auth.PROTOCOL.say(client_auth.PROTOCOL.not_found))
    sources, versions, component, has_label = [], [], None, False
    for profile in reversed(readable):  # the last profile wins: its sources come first
        target = client_config.target(caller, application, profile)
        component = target.component
        if not target.current:
            continue
        render = _sources(target, target.current, label)
        form = ("spring", label)
        _body, (found, labelled) = client_config.answer(caller, target, target.current, None, form, render)
        sources.extend(found)
        has_label = has_label or labelled
        versions.append(str(target.current))
    if not versions:
        raise NotFound(msg("Nothing published for %(component)s in %(environments)s yet.",
                           component=component or application, environments=", ".join(readable)))
    if label is not None and not has_label:
        raise NotFound(msg("No label '%(label)s': no release of %(component)s has that namespace.",
                           label=label, component=component))
    env = {"name": application, "profiles": profiles, "label": label, "version": ",".join(reversed(versions)),
           "state": None, "propertySources": sources}
    return env


def _json(payload: dict):
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    accept = request.headers.get("Accept", "")
    mimetype = V2_JSON if V2_JSON in accept else "application/json"
    return client_api.send(body, client_api.etag_of(body), mimetype)


def _merged(env: dict) -> dict:
    merged: dict = {}
    for source in reversed(env["propertySources"]):  # lowest precedence first: the highest lands last
        merged.update(source["source"])
    return dict(sorted(merged.items()))


def _file(tenant_slug: str, label_text: str | None, filename: str):
    stem, dot, extension = filename.rpartition(".")
    fmt = EXTENSIONS.get(extension) if dot else None
    if fmt is None or "-" not in stem:
        raise NotFound(msg("Ask /spring/<tenant>/<application>/<profiles> or "
                           "<application>-<profiles>.yml, .yaml, .properties or .json."))
    env = None
    # Components and profiles may both hold dashes: the first split (from the right) naming a
    # component of the tenant wins.
    parts = stem.split("-")
    last_error: ServiceError | None = None
    for cut in range(len(parts) - 1, 0, -1):
        application, profiles = "-".join(parts[:cut]), "-".join(parts[cut:])
        try:
            env = _environment(tenant_slug, application, profiles, label_text)
            break
        except ServiceError as error:
            last_error = error
            if error.status != 404:
                raise
    if env is None:
        raise last_error
    text = _dump(_merged(env), fmt).encode()
    mimetype = "application/json" if fmt == "json" else "text/plain"
    return client_api.send(text, client_api.etag_of(text), mimetype)


def _dump(values: dict, fmt: str) -> str:
    """The file form: YAML and JSON nested by the dots of the keys, as Spring writes them."""
    return formats.dump(values, fmt, nested=fmt != "properties")


@bp.get("/spring/<tenant_slug>/<filename>")
@auth.protocol(Perm.CONFIG_READ)
def spring_file(tenant_slug, filename):
    return _file(tenant_slug, None, filename)


@bp.get("/spring/<tenant_slug>/<application>/<profiles>")
@auth.protocol(Perm.CONFIG_READ)
def spring_environment(tenant_slug, application, profiles):
    if "." in profiles:  # /<label>/<application>-<profiles>.<ext>: profile names have no dots
        return _file(tenant_slug, application, profiles)
    return _json(_environment(tenant_slug, application, profiles, None))


@bp.get("/spring/<tenant_slug>/<application>/<profiles>/<label>")
@auth.protocol(Perm.CONFIG_READ)
def spring_labelled(tenant_slug, application, profiles, label):
    return _json(_environment(tenant_slug, application, profiles, label))

