"""What a pipeline rendering configuration at build time needs beside ``render_template``: the
secrets of the release it renders (which its log must mask), and which secrets a template would
take (refused to pipelines that may not receive secrets: those not of a protected branch)."""

from __future__ import annotations

from taiji.platform.errors import NotFound, msg

from .. import formats
from . import names
from .components import resolve_component
from .releases import release_for
from .resolve import Resolved, resolve

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in a value a template holds


def _current(tenant, component, environment) -> Resolved:
    component = resolve_component(tenant, component)
    environment = names.environment(environment)
    release = release_for(tenant, component, environment)
    if release is None:
        raise NotFound(msg("Nothing published for %(component)s in %(environment)s.",
                           component=component.name, environment=environment))
    return resolve(release.snapshot, decrypt=True)


def secret_values(tenant, component, environment) -> list[str]:
    """The decrypted secrets of the current release of ``component`` in ``environment``, as a
    rendered template writes them."""
    view = _current(tenant, component, environment)
    return [formats.as_text(value.value) for keys in view.namespaces.values() for value in keys.values()
            if value.secret]


def secret_keys_in(tenant, component, environment, text: str) -> list[str]:
    """The keys of secrets that ``text``'s placeholders would take from the current release (also
    those written with a default)."""
    merged: dict = {}
    secret: set[str] = set()
    view = _current(tenant, component, environment)
    for ns in sorted(view.namespaces, key=lambda n: (n == "application", n)):  # as config_for merges
        for key, value in view.namespaces[ns].items():
            merged[key] = value.value
            (secret.add if value.secret else secret.discard)(key)
    marked = {key: (f"{_OPEN}{index}{_CLOSE}" if key in secret else value)
              for index, (key, value) in enumerate(merged.items())}
    rendered, _missing = formats.render_template(text, marked)
    return sorted(key for key in secret if f"{_OPEN}{list(merged).index(key)}{_CLOSE}" in rendered)
