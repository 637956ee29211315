"""Import and export a namespace of one layer as YAML, JSON, ``.properties`` (or env, export only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from taiji.platform.errors import Invalid, field_error, msg

from . import adapters, names, values
from .components import resolve_component
from .items import list_items, put_item

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_KEYS = 5000


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False


def _format(fmt, allowed) -> str:
    if fmt not in allowed:
        raise field_error("format", msg("The format is one of %(formats)s.", formats=", ".join(allowed)))
    return fmt


def export_namespace(tenant, component, environment, namespace, fmt, layer="environment") -> str:
    """The items of ``namespace`` in one layer as a file; secrets are left out (reveal them one by one)."""
    component = resolve_component(tenant, component)
    fmt = _format(fmt, adapters.FORMATS)
    namespace, layer = names.namespace(namespace), names.layer(layer)
    if layer == "label":
        raise field_error("layer", msg("Label-layer items are exported with the draft, not as a file."))
    items = list_items(tenant, component, environment, namespace=namespace, layer=layer)
    return adapters.dump({item.key: values.decode(item.value) for item in items if not item.secret}, fmt)


def _infer(value, existing) -> str:
    if existing is not None:
        return existing.type
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "json"


def import_namespace(tenant, actor, component, environment, namespace, fmt, text, *,
                     dry_run=False) -> ImportReport:
    """Set the environment-layer items of ``namespace`` from a file: new keys added, present ones
    replaced (keeping their type and secrecy), others left alone. All or nothing: a bad value is a
    422 naming its key and nothing is written; ``dry_run`` only reports."""
    component = resolve_component(tenant, component)
    environment, namespace = names.environment(environment), names.namespace(namespace)
    fmt = _format(fmt, adapters.IMPORT_FORMATS)
    if not isinstance(text, str) or len(text.encode()) > MAX_IMPORT_BYTES:
        raise field_error("text", msg("Send the file as text of at most 1 MiB."))
    try:
        parsed = adapters.load(text, fmt)
    except ValueError as error:
        raise field_error("text", msg("Cannot read the %(format)s file: %(error)s", format=fmt,
                                      error=str(error)[:300])) from None
    if len(parsed) > MAX_IMPORT_KEYS:
        raise field_error("text", msg("A file holds at most %(count)s keys.", count=MAX_IMPORT_KEYS))
    existing = {item.key: item for item in list_items(tenant, component, environment, namespace=namespace,
                                                       layer="environment")}
    report, plan, errors = ImportReport(dry_run=bool(dry_run)), [], {}
    for key, value in parsed.items():
        item = existing.get(key)
        try:
            names.key(key, f"keys.{key}"[:200])
            kind = _infer(value, item)
            # A text of a json key is JSON to parse in a .properties file, a plain string elsewhere.
            quoted = kind == "json" and isinstance(value, str) and fmt != "properties"
            typed = values.coerce(kind, values.encode(value) if quoted else value, f"keys.{key}"[:200])
        except Invalid as error:
            for problems in (error.errors or {}).get("json", {}).values():
                errors[str(key)[:200]] = problems
            continue
        same = item is not None and item.type == kind and \
            values.encode(values.plain(item.value, item.sealed)) == values.encode(typed)
        if item is None:
            report.added.append(key)
        elif same:
            report.unchanged.append(key)
            continue
        else:
            report.changed.append(key)
        plan.append((key, kind, typed, item))
    if errors:
        raise Invalid(msg("The file has values SCM cannot take; nothing was imported."),
                      errors={"json": errors})
    if not report.dry_run:
        for key, kind, typed, item in plan:
            put_item(tenant, actor, component, environment, key, value=typed, type=kind,
                     secret=bool(item and item.secret), description=item.description if item else "",
                     namespace=namespace, layer="environment")
    return report
