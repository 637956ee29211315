"""Configuration as text: JSON, YAML, Java ``.properties`` and shell ``env`` files, and ``${key}``
templates. Pure functions: no Flask, no database.

A configuration here is a flat mapping of keys (``server.port``) to typed values: ``str``, ``int``,
``float``, ``bool``, ``None`` or a JSON value (``list``/``dict``).

- ``load`` reads a file a person wrote (an import). Nested JSON/YAML objects become dotted keys
  (``{"a": {"b": 1}}`` → ``a.b``); lists stay whole, as JSON values; an empty object stays ``{}``.
  ``.properties`` values are always strings (the format has no types). Anything wrong is one
  ``FormatError`` naming the line: bad syntax, a key that is not a key, a key given twice, too big.
- ``dump`` writes one. JSON and YAML keep the dotted keys flat unless asked to ``nested`` them;
  ``.properties`` is ASCII with ``\\uXXXX`` escapes, as ``java.util.Properties.load`` and Spring
  read it; ``env`` is for POSIX shells (see ``dump``).
- ``render_template`` replaces ``${key}`` and ``${key:default}`` in a text; ``$${`` is a literal
  ``${``. It returns the text and every key that had neither a value nor a default.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping
from datetime import date, datetime

import javaproperties
import yaml

from taiji.platform import safeyaml

FORMATS = ("json", "yaml", "properties", "env")
LOADABLE = ("json", "yaml", "properties")
MAX_BYTES = 1024 * 1024
MAX_KEYS = 5000

KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FormatError(ValueError):
    """A text that cannot be read (or values that cannot be written) in a format.

    ``line`` counts from 1; None when the problem is not on one line (size, the whole document)."""

    def __init__(self, line: int | None, message: str):
        self.line, self.message = line, message
        super().__init__(f"line {line}: {message}" if line else message)


def type_of(value: object) -> str:
    """The SCM item type that holds ``value`` as ``load`` returns it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "json"


def as_text(value: object) -> str:
    """A value as a string, the way properties files, environment variables and templates carry it:
    ``true``/``false``, numbers as Python writes them, ``""`` for None, JSON for lists and objects."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------------------- dump


def dump(values: Mapping[str, object], fmt: str, *, nested: bool = False) -> str:
    """The text of ``values`` in ``fmt`` (json | yaml | properties | env).

    ``nested`` (json and yaml): dotted keys become nested objects (``a.b`` → ``{"a": {"b": ...}}``),
    as Spring writes ``application.yml``; ``load`` reads either form back to the same keys.

    ``env``: one ``NAME=value`` a line, sorted; NAME is the key upper-cased with ``.`` and ``-`` as
    ``_`` (``server.port`` → ``SERVER_PORT``); each value is quoted for a POSIX shell
    (``shlex.quote``), so ``set -a; . ./app.env`` in sh or bash sets exactly the values, newlines,
    quotes and ``$`` included. ``docker run --env-file`` does NOT unquote (it would keep the quotes
    of a value with spaces) and cannot carry a newline: give Docker the JSON or use the shell."""
    if fmt not in FORMATS:
        raise FormatError(None, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        tree = nest(values) if nested else dict(sorted(values.items()))
        try:
            return json.dumps(tree, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise FormatError(None, f"a value cannot be written as JSON: {exc}") from None
    if fmt == "yaml":
        tree = nest(values) if nested else dict(sorted(values.items()))
        if not tree:
            return "{}\n"
        try:
            return yaml.dump(tree, Dumper=_YamlDumper, allow_unicode=True, sort_keys=False,
                             default_flow_style=False, width=100)
        except yaml.YAMLError as exc:
            raise FormatError(None, f"a value cannot be written as YAML: {exc}") from None
    if fmt == "properties":
        return javaproperties.dumps({key: as_text(v) for key, v in values.items()},
                                    timestamp=False, sort_keys=True, ensure_ascii=True)
    return _dump_env(values)


def env_name(key: str) -> str:
    """The environment variable that carries ``key``: ``server.port`` → ``SERVER_PORT``."""
    return key.upper().replace(".", "_").replace("-", "_")


def _dump_env(values: Mapping[str, object]) -> str:
    lines: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, value in values.items():
        name = env_name(key)
        if not _ENV_NAME_RE.match(name):
            raise FormatError(None, f"the key {key!r} cannot be an environment variable name "
                                    "(it must start with a letter or '_')")
        if name in origin:
            raise FormatError(None, f"the keys {origin[name]!r} and {key!r} are both the "
                                    f"environment variable {name}; rename one")
        text = as_text(value)
        if "\0" in text:
            raise FormatError(None, f"the value of {key!r} holds a NUL character, which no "
                                    "environment variable can carry")
        origin[name] = key
        lines[name] = f"{name}={shlex.quote(text)}"
    return "".join(lines[name] + "\n" for name in sorted(lines))


class _YamlDumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings as literal blocks (``|``), readable and diffable."""


def _represent_str(dumper: yaml.SafeDumper, text: str):
    style = "|" if "\n" in text.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_YamlDumper.add_representer(str, _represent_str)


def nest(values: Mapping[str, object]) -> dict:
    """Dotted keys as nested objects, sorted. A key that is also the prefix of another
    (``a`` and ``a.b``) cannot be both a value and an object: the longer one stays dotted beside it
    (``{"a": 1, "a.b": 2}``), which ``load`` reads back to the same two keys."""
    tree: dict = {}
    branches = {id(tree)}  # the objects made here (a value may itself be a dict: never merged into)
    for key in sorted(values):  # a prefix sorts before the keys it starts
        parts = key.split(".")
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if part not in node:
                child = node[part] = {}
                branches.add(id(child))
            elif id(child) not in branches:
                node[".".join(parts[i:])] = values[key]
                break
            node = child
        else:
            node[parts[-1]] = values[key]
    return tree


# ---------------------------------------------------------------------------------------- load


def load(text: str, fmt: str) -> dict[str, object]:
    """The flat configuration in ``text`` (json | yaml | properties); raises ``FormatError``."""
    if fmt not in LOADABLE:
        raise FormatError(None, f"cannot read format {fmt!r}; use one of {', '.join(LOADABLE)}")
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise FormatError(None, f"the text is larger than {MAX_BYTES // 1024} KiB")
    if fmt == "json":
        pairs = _load_json(text)
    elif fmt == "yaml":
        pairs = _load_yaml(text)
    else:
        pairs = _load_properties(text)
    return _collect(pairs)


def _collect(pairs: Iterable[tuple[str, object, object]]) -> dict[str, object]:
    values: dict[str, object] = {}
    lines: dict[str, object] = {}
    for key, value, where in pairs:
        line = where() if callable(where) and (not KEY_RE.match(key) or key in values) else where
        if not KEY_RE.match(key):
            raise FormatError(line, f"{key!r} is not a valid key: use letters, digits, '_', '.' and "
                                    "'-' (at most 200, not starting with '.' or '-')")
        if key in values:
            first = f" (first on line {lines[key]})" if isinstance(lines[key], int) else ""
            raise FormatError(line, f"the key {key!r} is given twice{first}")
        values[key], lines[key] = value, line
        if len(values) > MAX_KEYS:
            raise FormatError(line if isinstance(line, int) else None,
                              f"more than {MAX_KEYS} keys; split the configuration")
    return values


def _load_json(text: str):
    def pairs_hook(pairs):
        seen: dict = {}
        for key, value in pairs:
            if key in seen:
                raise _DuplicateJsonKey(key)
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise FormatError(exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except _DuplicateJsonKey as exc:
        raise FormatError(_line_of(text, json.dumps(exc.key), nth=2),
                          f"the key {exc.key!r} is given twice in one object") from None
    except RecursionError:
        raise FormatError(None, "the JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise FormatError(1, "the JSON must be an object of keys and values")
    for key, value in _flatten(data):
        # Where a key is written is only looked for when it is wrong (a search per key is slow).
        yield key, value, lambda key=key: _line_of(text, json.dumps(key.rsplit(".", 1)[-1]))


class _DuplicateJsonKey(ValueError):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def _refuse_constant(name: str):
    raise FormatError(None, f"{name} is not a JSON number; write it as a string")


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _line_of(text: str, needle: str, nth: int = 1) -> int | None:
    at = -1
    for _ in range(nth):
        at = text.find(needle, at + 1)
        if at < 0:
            return None
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _load_yaml(text: str):
    try:
        node = safeyaml.compose(text, safeyaml.Limits(max_bytes=MAX_BYTES))
    except safeyaml.UntrustedYAML as exc:
        raise FormatError(exc.line, exc.problem) from None
    if node is None:
        return
    if not isinstance(node, yaml.MappingNode):
        raise FormatError(node.start_mark.line + 1, "the YAML must be a mapping of keys and values")
    yield from _walk_yaml(node, "")


def _walk_yaml(node: yaml.MappingNode, prefix: str):
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise FormatError(line, "a key must be a plain word, not a list or a mapping")
        # The key as written: `on:` is the key "on", not the boolean YAML 1.1 makes of it.
        name = prefix + key_node.value
        if isinstance(value_node, yaml.MappingNode) and value_node.value:
            yield from _walk_yaml(value_node, name + ".")
        elif isinstance(value_node, yaml.ScalarNode):
            yield name, _yaml_scalar(value_node), line
        else:
            try:
                value = safeyaml.scalar(value_node)
            except safeyaml.UntrustedYAML as exc:
                raise FormatError(exc.line, exc.problem) from None
            yield name, _plain(value, line), line


def _yaml_scalar(node: yaml.ScalarNode):
    try:
        value = safeyaml.scalar(node)
    except safeyaml.UntrustedYAML as exc:
        raise FormatError(exc.line, exc.problem) from None
    if isinstance(value, date | datetime):
        return node.value  # a date stays the text the person wrote
    return _plain(value, node.start_mark.line + 1)


def _plain(value, line: int):
    """A YAML value as JSON can hold it: dates as ISO text, keys as strings; others refused."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FormatError(line, "infinite and NaN numbers are not accepted; write them as strings")
        return value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item, line) for item in value]
    if isinstance(value, dict):
        return {as_text(key) if not isinstance(key, str) else key: _plain(item, line)
                for key, item in value.items()}
    raise FormatError(line, f"values of YAML type {type(value).__name__} are not accepted")


def _load_properties(text: str):
    line = 1
    try:
        for element in javaproperties.parse(text):
            if isinstance(element, javaproperties.KeyValue):
                yield element.key, element.value, line
            line += element.source.count("\n") + element.source.count("\r") - element.source.count(
                "\r\n")
    except javaproperties.InvalidUEscapeError as exc:
        raise FormatError(line, f"invalid escape {exc.escape!r}: write \\u and four hex digits") from None


# ---------------------------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z0-9_][A-Za-z0-9_.\-]{0,199})(?::([^}\n]*))?\}")


def render_template(text: str, values: Mapping[str, object]) -> tuple[str, list[str]]:
    """``text`` with each ``${key}`` replaced by the key's value (``as_text``) and each
    ``${key:default}`` by the value or else the default; ``$${`` stands for a literal ``${``.

    Returns the rendered text and the keys with neither a value nor a default, each once, in the
    order they first appear (their placeholders are left as they were). A ``${`` that is not
    followed by a key and ``}`` is left alone."""
    missing: dict[str, None] = {}

    def replace(match: re.Match) -> str:
        if match.group(0) == "$${":
            return "${"
        key, default = match.group(1), match.group(2)
        if key in values:
            return as_text(values[key])
        if default is not None:
            return default
        missing[key] = None
        return match.group(0)

    return _PLACEHOLDER.sub(replace, text), list(missing)
