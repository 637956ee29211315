"""`taiji config …` and `taiji keys rotate-config`: the configuration center from a shell.

`get`, `set` and `publish` act on the server through SCM's services (the app built from the
environment, or the one passed as click's context object in tests), as the user named by `--as`
with that user's permissions in the tenant. `render` does the same, or — given `--url` and `--key`
(TAIJI_URL, TAIJI_CONFIG_KEY) — is a plain HTTP client of `GET /config/<tenant>/<component>/<env>`,
so a pipeline job needs nothing but the command and an access key:

    taiji config render --component payments --env dev --format env > app.env

(the job's TAIJI_TENANT names the tenant).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import click
from flask import Flask

FORMATS = ("env", "json", "yaml", "properties")
LAYERS = ("tenant", "product", "component", "environment", "label")
TYPES = ("string", "int", "float", "bool", "json", "file")
HTTP_TIMEOUT = 30
MAX_ANSWER_BYTES = 16 * 1024 * 1024


def _app() -> Flask:
    from taiji.platform.commands import get_app

    return click.get_current_context().find_object(Flask) or get_app()


def _run(body, *, commit: bool = True):
    """``body`` in one unit of work; a refused service call is the command's one-line error."""
    from taiji.platform.commands import service_message
    from taiji.platform.db import db
    from taiji.platform.errors import ServiceError

    with _app().app_context():
        try:
            result = body()
        except ServiceError as exc:
            db.session.rollback()
            raise click.ClickException(service_message(exc)) from exc
        if commit:
            db.session.commit()
        else:
            db.session.rollback()
        return result


def _tenant(slug: str):
    from taiji.platform.tenancy import tenant_by_slug

    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"No tenant '{slug}'.")
    return tenant


def _actor(tenant, email: str, permission: str):
    """The user ``email`` as the acting principal, refused unless they hold ``permission`` in ``tenant``."""
    from taiji.modules.iam import services as iam
    from taiji.platform.auth import Principal, registry

    user = iam.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No user with the email {email}.")
    principal = Principal(user_id=user.id, email=user.email, name=user.name,
                          is_admin=iam.is_platform_admin(user.id), via="cli")
    if permission not in registry.access_resolver(principal, tenant).permissions:
        raise click.ClickException(f"{email} may not do this in {tenant.slug}: it needs {permission}.")
    return user


def _common(command):
    """--tenant, --component and --env, with the job's TAIJI_TENANT as the tenant by default."""
    command = click.option("--env", "environment", required=True, metavar="NAME",
                           help="The environment (profile), e.g. dev.")(command)
    command = click.option("--component", required=True, metavar="NAME",
                           help="The component: its name, or product-slug:name.")(command)
    return click.option("--tenant", envvar="TAIJI_TENANT", required=True, metavar="SLUG",
                        help="The tenant (default: $TAIJI_TENANT, set in pipeline jobs).")(command)


@click.group("config", short_help="Read, change, publish and render configuration.")
def config():
    """The configuration center: read, change, publish and render configuration."""


@config.command("get", short_help="Show the resolved draft, or one key's value.")
@_common
@click.argument("key", required=False)
@click.option("--as", "actor", required=True, metavar="EMAIL",
              help="Read as this user (needs scm:config:read).")
@click.option("--labels", default=None, metavar="K=V,…", help="Resolve for an instance with these labels.")
@click.option("--namespace", default=None, help="Only this namespace (default: all; KEY from `application` "
                                                "first).")
@click.option("--json", "as_json", is_flag=True, help="Every key with its value, type and layer, as JSON.")
@click.option("--reveal", is_flag=True,
              help="Show KEY's value even if it is a secret (needs scm:secret:read; audited).")
def get_command(tenant, component, environment, key, actor, labels, namespace, as_json, reveal):
    """The draft of --component in --env, resolved across its layers: one `key = value  (layer)` line
    per key, secrets masked; with KEY, only that key's value (for scripts)."""
    from . import services

    def body():
        row = _tenant(tenant)
        user = _actor(row, actor, "scm:config:read")
        resolved = services.draft(row, component, environment, labels=labels)
        entries = [(ns, name, value) for ns, keys in sorted(resolved.namespaces.items())
                   for name, value in sorted(keys.items()) if namespace in (None, ns)]
        if key is None:
            return [_entry(ns, name, value) for ns, name, value in entries]
        found = [(ns, value) for ns, name, value in entries if name == key]
        if not found:
            raise click.ClickException(f"No key '{key}' in the draft of {component} ({environment}).")
        ns, value = next(((ns, v) for ns, v in found if ns == "application"), found[-1])
        if value.secret and not reveal:
            raise click.ClickException(f"'{key}' is a secret; add --reveal to show it "
                                       "(needs scm:secret:read).")
        if value.secret:
            _actor(row, actor, "scm:secret:read")
            return services.reveal_secret(row, user, component, environment, key, namespace=ns,
                                          layer=value.layer, label=value.selector or None)
        return value.value

    result = _run(body)
    if key is not None:
        click.echo(result if isinstance(result, str) else json.dumps(result))
    elif as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        if not result:
            click.echo("No configuration yet.")
        for entry in result:
            shown = "******" if entry["secret"] else json.dumps(entry["value"], ensure_ascii=False)
            where = entry["layer"]
            if entry["namespace"] != "application":
                where = f"{entry['namespace']}, {where}"
            click.echo(f"{entry['key']} = {shown}  ({where})")


def _entry(namespace: str, key: str, value) -> dict:
    return {"namespace": namespace, "key": key, "type": value.type, "layer": value.layer,
            "secret": value.secret, "value": None if value.secret else value.value}


@config.command("set", short_help="Set a key in the draft (a secret from stdin).")
@_common
@click.argument("key")
@click.argument("value")
@click.option("--as", "actor", required=True, metavar="EMAIL",
              help="Act as this user (needs scm:config:write).")
@click.option("--type", "kind", type=click.Choice(TYPES), default="string", show_default=True)
@click.option("--secret", is_flag=True, help="Store it encrypted; shown masked everywhere.")
@click.option("--namespace", default="application", show_default=True)
@click.option("--layer", type=click.Choice(LAYERS), default="environment", show_default=True,
              help="Where the value lives: tenant-wide … this environment, or an instance label selector.")
@click.option("--label", default=None, metavar="SELECTOR", help="With --layer label: e.g. zone=bj.")
@click.option("--description", default="", help="What the key is for.")
def set_command(tenant, component, environment, key, value, actor, kind, secret, namespace, layer, label,
                description):
    """Set KEY to VALUE in the draft of --component in --env (VALUE `-`: read it from standard input, so
    that a secret never appears on a command line)."""
    from . import services

    if value == "-":
        value = sys.stdin.read().removesuffix("\n")

    def body():
        row = _tenant(tenant)
        user = _actor(row, actor, "scm:config:write")
        item = services.put_item(row, user, component, environment, key, value=value, type=kind,
                                 secret=secret, description=description, namespace=namespace, layer=layer,
                                 label=label)
        return item.layer

    stored_in = _run(body)
    click.echo(f"Set {key} ({kind}{', secret' if secret else ''}) in the {stored_in} layer of {component} "
               f"({environment}); publish to release it.")


@config.command("publish", short_help="Publish the draft as a numbered release.")
@_common
@click.option("--as", "actor", required=True, metavar="EMAIL",
              help="Act as this user (needs scm:config:publish).")
@click.option("--comment", "-m", default="", help="What changed, for the release list.")
@click.option("--gray-selector", default=None, metavar="SELECTOR",
              help="A gray release for the instances matching these labels, e.g. zone=bj.")
@click.option("--gray-percentage", type=click.FloatRange(0, 100, min_open=True), default=None,
              help="A gray release for this share of instances (stable by instance id).")
def publish_command(tenant, component, environment, actor, comment, gray_selector, gray_percentage):
    """Publish the draft of --component in --env as a new numbered release (pending when the environment
    asks for a second person's approval)."""
    from . import services

    gray = None
    if gray_selector is not None or gray_percentage is not None:
        gray = {k: v for k, v in (("selector", gray_selector), ("percentage", gray_percentage))
                if v is not None}

    def body():
        row = _tenant(tenant)
        user = _actor(row, actor, "scm:config:publish")
        release = services.publish(row, user, component, environment, comment=comment, gray=gray)
        return release.number, release.status

    number, status = _run(body)
    after = {"pending": " — waiting for another person's approval", "gray": " — gray: promote or abandon it"}
    click.echo(f"Release #{number} of {component} ({environment}): {status}{after.get(status, '')}")


@config.command("render", short_help="Print the current release as env, json, yaml or properties.")
@_common
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="env", show_default=True)
@click.option("--namespace", default=None, help="Only this namespace (default: all, merged).")
@click.option("--url", envvar="TAIJI_URL", default=None, help="Read over HTTP from this Taiji ($TAIJI_URL).")
@click.option("--key", "token", envvar="TAIJI_CONFIG_KEY", default=None,
              help="The environment's access key for --url ($TAIJI_CONFIG_KEY).")
@click.option("--instance", default=None, help="This instance's id (for gray releases).")
@click.option("--labels", default=None, metavar="K=V,…", help="This instance's labels (for gray releases).")
def render_command(tenant, component, environment, fmt, namespace, url, token, instance, labels):
    """The current release of --component in --env as a file (secrets decrypted): write it with `> file`.

    With --url and --key it asks Taiji over HTTP (what a pipeline job does); else it reads the
    database of this server."""
    if url or token:
        if not (url and token):
            raise click.UsageError("Give both --url and --key (or TAIJI_URL and TAIJI_CONFIG_KEY).")
        values = _fetch(url, token, tenant, component, environment, namespace, instance, labels)
        from . import formats

        click.echo(formats.dump(values, fmt), nl=False)
        return
    from . import services

    text = _run(lambda: services.render(_tenant(tenant), component, environment, fmt, namespace=namespace,
                                        instance=instance, labels=labels), commit=False)
    click.echo(text, nl=False)


def _fetch(url, token, tenant, component, environment, namespace, instance, labels) -> dict:
    """The values of `GET /config/...` (an access key as the X-Config-Token header)."""
    parts = (urllib.parse.quote(p, safe="") for p in (tenant, component, environment))
    query = urllib.parse.urlencode({k: v for k, v in (("namespace", namespace), ("instance", instance),
                                                      ("labels", labels)) if v})
    address = f"{url.rstrip('/')}/config/{'/'.join(parts)}" + (f"?{query}" if query else "")
    if not address.startswith(("http://", "https://")):
        raise click.UsageError(f"--url must start with http:// or https://, not {url!r}.")
    headers = {"X-Config-Token": token, "Accept": "application/json", "User-Agent": "taiji-config-render"}
    request = urllib.request.Request(address, headers=headers)  # noqa: S310 - http(s) only, checked above
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as answer:  # noqa: S310 - http(s) only
            body = answer.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"{address}: {exc.code} {_problem(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(f"{address}: {getattr(exc, 'reason', exc)}") from None
    try:
        data = json.loads(body) if len(body) <= MAX_ANSWER_BYTES else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
        raise click.ClickException(f"{address} did not answer with configuration "
                                   "(is --url Taiji's address?).")
    return data["values"]


def _problem(exc: urllib.error.HTTPError) -> str:
    """What a problem+json answer says (its detail or title), else the status's reason."""
    try:
        data = json.loads(exc.read(65536) or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return str(exc.reason)
    return str(data.get("detail") or data.get("title") or exc.reason)


@click.group("keys")
def keys():
    """The platform's keys."""


@keys.command("rotate-config", short_help="Re-encrypt configuration secrets under the current key.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Values re-sealed per transaction.")
def rotate_config(batch_size):
    """Re-encrypt every configuration secret under the current TAIJI_SECRET_KEY.

    First give every process the new TAIJI_SECRET_KEY with the old one in TAIJI_PREVIOUS_SECRET_KEYS
    (both open values meanwhile, so nothing stops), run this, then drop the old key. Each batch is
    committed on its own: an interrupted run loses nothing, and running it again finishes the work."""
    from .services import rotation

    total = 0
    for kind in rotation.KINDS:
        after = 0
        while after is not None:
            resealed, after = _run(lambda kind=kind, after=after: rotation.reseal_batch(kind, after,
                                                                                       batch_size))
            total += resealed
            if resealed:
                click.echo(f"{kind}: {resealed} value(s) re-sealed", err=True)
    click.echo(f"Re-sealed {total} configuration value(s) under the current key.")
