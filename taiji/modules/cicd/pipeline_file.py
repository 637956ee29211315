"""`.taiji.yml`: parse, validate against the JSON Schema, check what a schema cannot, normalise.

The file is read through PyYAML's node API so that every value keeps the line it came from:
every error names its line and says what is wrong and how to fix it, in words ("line 7: job
'package' needs unknown job 'tset'"). A file with any error yields no pipeline config at all, so a
pipeline never half-runs.

The messages are marked with ``msg``: a pipeline keeps them (``FileError.to_json``) and shows them in
the reader's language; ``ParseResult.message`` is English, ``ParseResult.text`` the current locale's.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from croniter import croniter

from taiji.platform import jsonschema_lib, safeyaml
from taiji.platform.errors import Msg, msg

from . import config_block
from .docker import file as container_file

FILE_NAME = ".taiji.yml"
SCHEMA_PATH = Path(__file__).with_name("taiji-yml.schema.json")
DEFAULT_TIMEOUT = 30 * 60
MAX_TIMEOUT = 24 * 3600
DEFAULT_EXPIRE = 30 * 24 * 3600
MAX_FILE_SIZE = 256 * 1024
# A real pipeline file is a few levels deep and has hundreds of values; these bounds are far
# above that and far below what would hurt a worker (safeyaml refuses aliases besides).
YAML_LIMITS = safeyaml.Limits(max_bytes=MAX_FILE_SIZE, max_depth=32, max_nodes=20_000)
# Runners a job may name (`runner:`; None in the parsed file: the repository's default runner, else
# the platform's); whether the platform allows one is asked of ``runner_check``.
KNOWN_RUNNERS = ("sandbox", "docker", "host", "jenkins")
# What files said before runners could be chosen (the only value then): the platform's default.
LEGACY_DEFAULT = "builtin"
_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


@dataclass(frozen=True)
class FileError:
    """One error of the file: its line (and column), and what is wrong with how to fix it."""

    line: int | None
    text: Msg | str
    column: int | None = None

    @property
    def message(self) -> str:
        """The error in English, without the file and line (for code, logs and tests)."""
        return _english(self.text)

    def render(self, english: bool = False) -> str:
        """``.taiji.yml: line 4: …`` in the current locale (``english``: always English)."""
        if not self.line:
            where = None
        elif self.column:
            where = msg("line %(line)s, column %(column)s", line=self.line, column=self.column)
        else:
            where = msg("line %(line)s", line=self.line)
        read = _english if english else str
        parts = [FILE_NAME, *([read(where)] if where is not None else []), read(self.text)]
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict:
        """What a pipeline stores to show the error later in its reader's language."""
        return {"line": self.line, "column": self.column, "text": _dump(self.text)}

    @classmethod
    def from_json(cls, data: dict) -> FileError:
        return cls(data.get("line"), _load_text(data.get("text")), data.get("column"))


def _english(text) -> str:
    return text.english if isinstance(text, Msg) else str(text)


def _dump(text):
    if isinstance(text, Msg):
        return {"msgid": text.msgid, "params": {k: _dump(v) for k, v in text.params.items()}}
    return text if isinstance(text, int | float) and not isinstance(text, bool) else str(text)


def _load_text(data):
    if isinstance(data, dict) and isinstance(data.get("msgid"), str):
        return Msg(data["msgid"], {k: _load_text(v) for k, v in (data.get("params") or {}).items()})
    return data if isinstance(data, int | float) else str(data)


def describe(errors: list[dict] | None, fallback: str | None = None) -> str | None:
    """Stored errors (``FileError.to_json``) as text in the current locale; ``fallback`` without them."""
    if not errors:
        return fallback
    try:
        return "\n".join(FileError.from_json(e).render() for e in errors)
    except (KeyError, TypeError, ValueError):  # written by an older Taiji: its English stands
        return fallback


@dataclass
class ParseResult:
    config: dict | None = None
    errors: list[FileError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        """Every error, one a line, in English (what a pipeline stores as its ``error``)."""
        return "\n".join(e.render(english=True) for e in self.errors)

    @property
    def text(self) -> str:
        """Every error, one a line, in the current locale."""
        return "\n".join(e.render() for e in self.errors)


class PipelineFileError(ValueError):
    def __init__(self, errors: list[FileError]):
        self.errors = errors
        super().__init__("\n".join(e.render(english=True) for e in errors))


@functools.cache
def schema() -> dict:
    """The JSON Schema of `.taiji.yml` (shipped beside this file), also served by the API."""
    return json.loads(SCHEMA_PATH.read_text())


def parse_duration(value) -> int | None:
    """Seconds in "1h30m", "90s", "7d" or a bare number; None when it is not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    match = _DURATION.match(str(value))
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    return total or None


def format_duration(seconds: int) -> str:
    """``5400`` -> ``"1h30m"``: a duration as people write it in the file."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def glob_regex(pattern: str) -> re.Pattern:
    """Git-style glob: ``*`` and ``?`` stay within one path segment, ``**`` crosses them."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                raise ValueError(f"unclosed '[' in glob {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, name: str) -> bool:
    try:
        return glob_regex(pattern).match(name) is not None
    except (ValueError, re.error):
        return False


# -- YAML with lines ---------------------------------------------------------------------------


class _Lines:
    """Line of every value (by JSON path) and of every mapping key."""

    def __init__(self):
        self.values: dict[tuple, int] = {}
        self.keys: dict[tuple, int] = {}

    def of(self, path: tuple, *, key: bool = False) -> int | None:
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), 1)


def _to_python(node: yaml.Node, path: tuple, lines: _Lines):
    lines.values[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise PipelineFileError([FileError(key_node.start_mark.line + 1, msg(
                    "a key must be a plain name, not a list or a mapping; write it as text"))])
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise PipelineFileError([FileError(key_node.start_mark.line + 1, msg(
                    "'<<' merge keys are not supported; write the merged keys out in full"))])
            # Keys stay text: YAML 1.1 would turn the key `on` into the boolean true.
            key = str(key_node.value)
            if key in result:
                raise PipelineFileError([FileError(key_node.start_mark.line + 1, msg(
                    "duplicate key '%(key)s'; each key may appear once here, so remove or rename one",
                    key=key))])
            lines.keys[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, index), lines) for index, item in enumerate(node.value)]
    try:
        value = safeyaml.scalar(node)
    except safeyaml.UntrustedYAML as exc:
        raise PipelineFileError([FileError(exc.line, _yaml_problem(exc.problem), exc.column)]) from None
    if isinstance(value, float) and value != value:  # .nan
        return str(node.value)
    if not isinstance(value, (str, int, float, bool, type(None))):
        return str(node.value)  # timestamps and binary stay the text the author wrote
    return value


def _load(text: str) -> tuple[dict, _Lines]:
    lines = _Lines()
    try:
        node = safeyaml.compose(text, YAML_LIMITS)
    except safeyaml.UntrustedYAML as exc:
        raise PipelineFileError([FileError(exc.line, _yaml_problem(exc.problem), exc.column)]) from None
    if node is None:
        raise PipelineFileError([FileError(1, msg(
            "the file is empty; it needs at least `jobs:` with one job"))])
    if not isinstance(node, yaml.MappingNode):
        raise PipelineFileError([FileError(node.start_mark.line + 1, msg(
            "the file must be a mapping with `jobs:` (key: value lines), not a list or a single value"))])
    return _to_python(node, (), lines), lines


# -- what YAML refused, in words --------------------------------------------------------------

_YAML_PROBLEMS = [
    # (what PyYAML or safeyaml says, what to tell the author)
    ("mapping values are not allowed", msg(
        "a ': ' inside a plain value makes YAML read a mapping here; quote the value")),
    ("could not find expected ':'", msg(
        "YAML expected a 'key: value' line here; add the missing ':' or fix the indentation")),
    ("cannot start any token", msg(
        "a tab or another character YAML does not accept starts a token here; indent with spaces, "
        "and quote values that start with @ or `")),
    ("did not find expected '-' indicator", msg(
        "this line is not indented like the list items around it; start it with '- ' at their indentation")),
    ("did not find expected key", msg(
        "this line is not indented like the keys around it; line it up with them")),
    ("expected <block end>", msg(
        "this line is indented differently from the lines before it; line it up with them")),
    ("while scanning a quoted scalar", msg("a quote opened here is never closed; close it")),
    ("expected ',' or ']'", msg(
        "a list in [brackets] is not closed, or its items are not separated by commas; check the brackets")),
    ("expected ',' or '}'", msg(
        "a mapping in {braces} is not closed, or its entries are not separated by commas; check the braces")),
    ("exceeded maximum nesting depth", msg("the file is nested too deeply; flatten the structure")),
    ("constructor for the tag", msg("YAML tags ('!name') are not accepted; remove the tag")),
    ("undefined tag handle", msg("YAML tags ('!name') are not accepted; remove the tag")),
]
_ANCHOR = re.compile(r"^YAML anchors and aliases \('&(.*)', '\*")
_TOO_MANY = re.compile(r"^more than (\d+) values")
_TOO_DEEP = re.compile(r"^nested more than (\d+) levels deep")
_UNREADABLE = re.compile(r"^the value cannot be read: (.*)$", re.S)


def _yaml_problem(problem: str) -> Msg:
    """What safeyaml (or PyYAML through it) refused, as a sentence with what to do."""
    anchor = _ANCHOR.match(problem)
    if anchor:
        return msg("YAML anchors and aliases ('&%(name)s', '*%(name)s') are not accepted here; write the "
                   "repeated part out in full", name=anchor.group(1))
    many = _TOO_MANY.match(problem)
    if many:
        return msg("the file has more than %(count)s values; make it smaller", count=int(many.group(1)))
    deep = _TOO_DEEP.match(problem)
    if deep:
        return msg("the file is nested more than %(depth)s levels deep; flatten the structure",
                   depth=int(deep.group(1)))
    unreadable = _UNREADABLE.match(problem)
    if unreadable:
        return msg("this value cannot be read (%(reason)s); quote it to make it text",
                   reason=unreadable.group(1))
    for fragment, worded in _YAML_PROBLEMS:
        if fragment in problem:
            return worded
    return msg("this is not valid YAML (%(problem)s)", problem=problem.removeprefix("not valid YAML: "))


# -- validation --------------------------------------------------------------------------------

_TYPES = {
    "string": msg("text"),
    "array": msg("a list"),
    "object": msg("a mapping (key: value lines)"),
    "integer": msg("a whole number"),
    "number": msg("a number"),
    "boolean": msg("true or false"),
    "null": msg("empty"),
}
_SCALAR = msg("text, a number or true/false")


def _expected(types) -> Msg | str:
    names = [types] if isinstance(types, str) else list(types)
    if set(names) == {"string", "number", "boolean"}:
        return _SCALAR
    if len(names) == 1 and names[0] in _TYPES:
        return _TYPES[names[0]]
    return " / ".join(names)


def _actual(value) -> Msg:
    if isinstance(value, bool):
        return _TYPES["boolean"]
    if isinstance(value, int | float):
        return _TYPES["number"]
    if isinstance(value, str):
        return _TYPES["string"]
    if isinstance(value, list):
        return _TYPES["array"]
    if isinstance(value, dict):
        return _TYPES["object"]
    return _TYPES["null"]


def _where(path: tuple) -> Msg | str:
    """A place in the file in words: the file, a job, or a dotted path (list items counted from 1)."""
    if not path:
        return msg("the file")
    parts = [str(p + 1) if isinstance(p, int) else str(p) for p in path]
    if path[0] == "jobs" and len(path) >= 2:
        if len(path) == 2:
            return msg("job '%(name)s'", name=parts[1])
        return msg("job '%(name)s' %(key)s", name=parts[1], key=".".join(parts[2:]))
    return ".".join(parts)


def _schema_message(error, path: tuple) -> Msg:
    """One validation error in words: what is wrong at ``path`` and how to fix it."""
    where, value, limit = _where(path), error.instance, error.validator_value
    kind = error.validator
    if kind == "type" and isinstance(value, dict) and "script" in path and isinstance(path[-1], int):
        return msg("this script line contains ': ', so YAML read it as a mapping; quote the line")
    if kind == "type":
        return msg("%(where)s must be %(expected)s, not %(actual)s", where=where, expected=_expected(limit),
                   actual=_actual(value))
    if kind == "required":
        missing = [k for k in limit if isinstance(value, dict) and k not in value] or list(limit)
        return msg("%(where)s is missing the key '%(key)s'; add it", where=where, key=missing[0])
    if kind == "enum":
        return msg("%(where)s: '%(value)s' is not one of %(choices)s; use one of them", where=where,
                   value=value, choices=", ".join(str(c) for c in limit))
    if kind == "oneOf" and "length of time" in str(error.schema.get("description", "")):
        return msg("%(where)s: '%(value)s' is not a duration like 90s, 10m or 1h30m", where=where,
                   value=value)
    if kind == "oneOf":
        return _one_of_message(error, path)
    if kind in ("minLength", "minItems", "minProperties") and limit == 1:
        return msg("%(where)s must not be empty", where=where)
    if kind == "minLength":
        return msg("%(where)s must have at least %(n)s characters", where=where, n=limit)
    if kind == "maxLength":
        return msg("%(where)s is too long; use at most %(n)s characters", where=where, n=limit)
    if kind in ("minItems", "minProperties"):
        return msg("%(where)s needs at least %(n)s entries", where=where, n=limit)
    if kind in ("maxItems", "maxProperties"):
        return msg("%(where)s has too many entries; use at most %(n)s", where=where, n=limit)
    if kind == "minimum":
        return msg("%(where)s must be at least %(n)s", where=where, n=limit)
    if kind == "uniqueItems":
        return msg("%(where)s lists the same entry twice; remove the repeat", where=where)
    if kind == "pattern":
        return msg("%(where)s: '%(value)s' is not written as expected (%(pattern)s)", where=where,
                   value=value, pattern=limit)
    return msg("%(where)s: %(problem)s", where=where, problem=error.message)


def _name_message(where, name: str, pattern: str) -> Msg:
    if pattern.startswith("^[A-Za-z0-9_]"):
        return msg("%(where)s: '%(name)s' is not a valid name; use letters, digits, '_', '.' and '-' "
                   "(no spaces)", where=where, name=name)
    return msg("%(where)s: '%(name)s' is not a valid name; use letters, digits and '_', not starting with "
               "a digit", where=where, name=name)



def _schema_errors(data: dict, lines: _Lines) -> list[FileError]:
    # Loaded here, and without its RFC 3987 grammars (taiji.platform.jsonschema_lib): a second of
    # CPU that a Taiji process which never reads a pipeline file should not pay at its start.
    jsonschema = jsonschema_lib.load()

    validator = jsonschema.Draft202012Validator(schema())
    errors = []
    for error in validator.iter_errors(data):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            for key in extra:
                errors.append(FileError(lines.of((*path, key), key=True), msg(
                    "%(where)s: unknown key '%(key)s'; check its spelling, or remove it", where=_where(path),
                    key=key)))
            continue
        if error.validator == "required":
            errors.append(FileError(lines.of(path, key=True), _schema_message(error, path)))
            continue
        if error.validator == "propertyNames" or "propertyNames" in error.schema_path:
            bad = error.instance
            names = error.validator_value if error.validator == "propertyNames" else error.schema
            pattern = str(names.get("pattern", "")) if isinstance(names, dict) else ""
            errors.append(FileError(lines.of((*path, bad), key=True),
                                    _name_message(_where(path), bad, pattern)))
            continue
        errors.append(FileError(lines.of(path), _schema_message(error, path)))
    return errors


def _one_of_message(error, path: tuple) -> Msg:
    """What is wrong with a value that fits none of the alternatives: said by the alternative of
    the value's own type ('' is too short; a service's alias does not match)."""
    branches: dict = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in branches.values():
        if any(sub.validator == "type" and not sub.relative_path for sub in subs):
            continue  # the value is not of this alternative's type
        sub = subs[0]
        where = (*path, *sub.relative_path)
        if sub.validator == "additionalProperties":
            extra = sorted(set(sub.instance) - set(sub.schema.get("properties", {})))
            if extra:
                return msg("%(where)s: unknown key '%(key)s'; check its spelling, or remove it",
                           where=_where(where), key=extra[0])
        return _schema_message(sub, where)
    if path and path[-1] == "script":
        return msg("%(where)s must be a command or a list of commands, not %(actual)s", where=_where(path),
                   actual=_actual(error.instance))
    return msg("%(where)s cannot be %(actual)s here", where=_where(path), actual=_actual(error.instance))


def _check_glob(pattern: str, line: int | None, what: str, errors: list, *, path_like: bool = False) -> None:
    try:
        glob_regex(pattern)
    except (ValueError, re.error) as exc:
        errors.append(FileError(line, msg("%(what)s: bad glob (%(reason)s); fix the pattern", what=what,
                                          reason=str(exc))))
        return
    if path_like and (pattern.startswith("/") or ".." in pattern.split("/")):
        errors.append(
            FileError(line, msg("%(what)s: '%(pattern)s' must stay inside the checkout; remove the leading / "
                                "or the ..", what=what, pattern=pattern))
        )


def _runner_errors(
    runner, path: tuple, what: str, lines: _Lines, runner_check: Callable[[str], str | None] | None
) -> list[FileError]:
    if runner is None or runner == LEGACY_DEFAULT:
        return []
    if runner not in KNOWN_RUNNERS:
        return [
            FileError(
                lines.of(path),
                msg("%(what)s: runner '%(runner)s' is not available; use one of: %(runners)s", what=what,
                    runner=runner, runners=", ".join(KNOWN_RUNNERS)),
            )
        ]
    refusal = runner_check(runner) if runner_check else None
    if not refusal:
        return []
    return [FileError(lines.of(path), msg("%(what)s: %(refusal)s", what=what, refusal=refusal))]


def _semantic_errors(
    data: dict,
    lines: _Lines,
    repository_exists: Callable[[str], bool] | None,
    runner_check: Callable[[str], str | None] | None = None,
    max_timeout: int | None = None,
) -> list[FileError]:
    errors: list[FileError] = []
    default = data.get("default") or {}
    errors += _runner_errors(default.get("runner"), ("default", "runner"), "default", lines, runner_check)
    for path, message in container_file.image_errors(default.get("image"), ("default",), "default"):
        errors.append(FileError(lines.of(path), message))
    on = data.get("on") or {}
    for kind in ("branches", "tags"):
        for index, pattern in enumerate((on.get("push") or {}).get(kind) or []):
            _check_glob(pattern, lines.of(("on", "push", kind, index)), "on.push." + kind, errors)
    for index, line in enumerate(on.get("schedule") or []):
        if not croniter.is_valid(line) or len(line.split()) != 5:
            errors.append(
                FileError(
                    lines.of(("on", "schedule", index)),
                    msg("on.schedule: '%(line)s' is not a cron line; write five fields: minute hour day "
                        "month weekday", line=line),
                )
            )
    jobs = data.get("jobs") or {}
    for name, job in jobs.items():
        base = ("jobs", name)
        this = msg("job '%(name)s'", name=name)
        for index, need in enumerate(job.get("needs") or []):
            if need == name:
                errors.append(FileError(lines.of((*base, "needs", index)), msg(
                    "job '%(name)s' needs itself; remove it from its own needs", name=name)))
            elif need not in jobs:
                errors.append(
                    FileError(lines.of((*base, "needs", index)), msg(
                        "job '%(name)s' needs unknown job '%(need)s'; check the name", name=name, need=need))
                )
        if "timeout" in job:
            seconds = parse_duration(job["timeout"])
            if seconds is None or seconds > MAX_TIMEOUT:
                errors.append(
                    FileError(
                        lines.of((*base, "timeout")),
                        msg("job '%(name)s': timeout '%(timeout)s' must be a duration like 90s, 10m or "
                            "1h30m, at most 24h", name=name, timeout=job["timeout"]),
                    )
                )
            elif max_timeout is not None and seconds > max_timeout:
                errors.append(
                    FileError(
                        lines.of((*base, "timeout")),
                        msg("job '%(name)s': timeout '%(timeout)s' is longer than this tenant's longest job "
                            "time, %(limit)s: ask for at most that, or ask a platform administrator to raise "
                            "the tenant's quota cicd.job_timeout_seconds", name=name, timeout=job["timeout"],
                            limit=format_duration(max_timeout)),
                    )
                )
        artifacts = job.get("artifacts") or {}
        for index, pattern in enumerate(artifacts.get("paths") or []):
            _check_glob(
                pattern,
                lines.of((*base, "artifacts", "paths", index)),
                msg("job '%(name)s' %(key)s", name=name, key="artifacts.paths"),
                errors,
                path_like=True,
            )
        if "expire_in" in artifacts and parse_duration(artifacts["expire_in"]) is None:
            errors.append(
                FileError(
                    lines.of((*base, "artifacts", "expire_in")),
                    msg("job '%(name)s': expire_in '%(value)s' is not a duration like 90s, 10m, 2h or 30d",
                        name=name, value=artifacts["expire_in"]),
                )
            )
        repository = (artifacts.get("publish") or {}).get("repository")
        if repository and repository_exists is not None and not repository_exists(repository):
            errors.append(
                FileError(
                    lines.of((*base, "artifacts", "publish", "repository")),
                    msg("job '%(name)s': no binary repository '%(repository)s' in this tenant; create it, or "
                        "publish to one that exists", name=name, repository=repository),
                )
            )
        junit = (job.get("reports") or {}).get("junit")
        for index, pattern in enumerate([junit] if isinstance(junit, str) else junit or []):
            path = (
                (*base, "reports", "junit") if isinstance(junit, str) else (*base, "reports", "junit", index)
            )
            junit_key = msg("job '%(name)s' %(key)s", name=name, key="reports.junit")
            _check_glob(pattern, lines.of(path), junit_key, errors, path_like=True)
        for path, message in container_file.job_errors(name, job):
            errors.append(FileError(lines.of(path), message))
        errors += _runner_errors(job.get("runner"), (*base, "runner"), this, lines, runner_check)
        errors.extend(_jenkins_errors(name, job, lines))
    errors.extend(_cycle_errors(jobs, lines))
    errors.extend(config_block.errors(data, lines, FileError, _check_glob))
    return errors


def _jenkins_errors(name: str, job: dict, lines: _Lines) -> list[FileError]:
    """`jenkins:` runs the job on Jenkins: it cannot name another runner, and a job that triggers an
    existing Jenkins job has no script of its own."""
    options = job.get("jenkins")
    if options is None:
        return []
    where = lines.of(("jobs", name, "jenkins"), key=True)
    errors = []
    if job.get("runner", "jenkins") != "jenkins":
        errors.append(FileError(where, msg(
            "job '%(name)s': `jenkins:` runs it on Jenkins, but its runner is '%(runner)s'; remove one of "
            "the two", name=name, runner=job["runner"])))
    if options.get("job") and "script" in job:
        errors.append(FileError(where, msg(
            "job '%(name)s': a job that triggers the Jenkins job '%(job)s' has no script of its own; remove "
            "`script:`", name=name, job=options["job"])))
    if options.get("parameters") and not options.get("job"):
        errors.append(FileError(where, msg(
            "job '%(name)s': `jenkins.parameters` are for an existing Jenkins job (`jenkins.job`); name the "
            "job, or remove the parameters", name=name)))
    return errors


def _jenkins_spec(job: dict) -> dict | None:
    options = job.get("jenkins")
    if options is None:
        return None
    out = {k: options[k] for k in ("controller", "job", "checkout") if k in options}
    if options.get("parameters"):
        out["parameters"] = {k: _env_text(v) for k, v in options["parameters"].items()}
    return out


def _cycle_errors(jobs: dict, lines: _Lines) -> list[FileError]:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in jobs:
        stack = [(start, iter(n for n in jobs[start].get("needs") or [] if n in jobs))]
        trail = [start]
        state[start] = state.get(start) or 1
        if state[start] == 2:
            continue
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[name] = 2
                stack.pop()
                trail.pop()
                continue
            if state.get(child) == 1:
                cycle = [*trail[trail.index(child) :], child]
                index = jobs[name]["needs"].index(child)
                return [
                    FileError(
                        lines.of(("jobs", name, "needs", index)),
                        msg("jobs depend on each other in a cycle: %(cycle)s; remove one of these needs",
                            cycle=" -> ".join(cycle)),
                    )
                ]
            if state.get(child) is None:
                state[child] = 1
                trail.append(child)
                stack.append((child, iter(n for n in jobs[child].get("needs") or [] if n in jobs)))
    return []


def _normalise(data: dict, max_timeout: int | None = None) -> dict:
    # A job that names no timeout gets the default, or the tenant's limit when that is shorter.
    default_timeout = DEFAULT_TIMEOUT if max_timeout is None else min(DEFAULT_TIMEOUT, max_timeout)
    on = data.get("on")
    default = data.get("default") or {}
    jobs = {}
    for position, (name, job) in enumerate(data["jobs"].items()):
        script = job.get("script", [])
        artifacts = job.get("artifacts") or {}
        junit = (job.get("reports") or {}).get("junit")
        jobs[name] = {
            "position": position,
            "script": [script] if isinstance(script, str) else [str(line) for line in script],
            "needs": list(job.get("needs") or []),
            "env": {k: _env_text(v) for k, v in (job.get("env") or {}).items()},
            "secrets": list(job.get("secrets") or []),
            "timeout": parse_duration(job["timeout"]) if "timeout" in job else default_timeout,
            "when": job.get("when", "on_success"),
            "allow_failure": bool(job.get("allow_failure", False)),
            "jenkins": _jenkins_spec(job),
            "junit": [junit] if isinstance(junit, str) else list(junit or []),
            **container_file.services_spec(job),
            "artifacts": {
                "paths": list(artifacts.get("paths") or []),
                "expire_in": parse_duration(artifacts["expire_in"])
                if "expire_in" in artifacts
                else DEFAULT_EXPIRE,
                "publish": (artifacts.get("publish") or {}).get("repository"),
            },
            # None: the repository's default runner, else the platform's (TAIJI_CICD_RUNNER);
            # the image: TAIJI_CICD_DEFAULT_IMAGE when none is named.
            "runner": "jenkins" if "jenkins" in job else _runner(job.get("runner") or default.get("runner")),
            "image": job.get("image") or default.get("image"),
            **config_block.normalised(data),
        }
    return {
        # No `on:` at all: every branch push runs (the friendliest default for a first file).
        "on": {"push": {"branches": ["**"], "tags": []}, "schedule": []}
        if on is None
        else {
            "push": {
                "branches": list(((on.get("push") or {}).get("branches")) or []),
                "tags": list(((on.get("push") or {}).get("tags")) or []),
            },
            "schedule": list(on.get("schedule") or []),
        },
        "env": {k: _env_text(v) for k, v in (data.get("env") or {}).items()},
        "jobs": jobs,
    }


def _runner(name: str | None) -> str | None:
    return None if name == LEGACY_DEFAULT else name


def _env_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _too_large() -> FileError:
    return FileError(None, msg("the file is larger than %(size)s KiB; make it smaller",
                               size=MAX_FILE_SIZE // 1024))


def parse(
    text: str | bytes,
    *,
    repository_exists: Callable[[str], bool] | None = None,
    runner_check: Callable[[str], str | None] | None = None,
    max_timeout: int | None = None,
) -> ParseResult:
    """Parse and check a `.taiji.yml`; ``repository_exists`` checks `publish` targets when given,
    ``runner_check`` says why a runner a job names is refused on this platform (or None),
    ``max_timeout`` (seconds) is the tenant's longest job time."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_SIZE:
            return ParseResult(errors=[_too_large()])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return ParseResult(errors=[FileError(None, msg("the file is not UTF-8 text; save it as UTF-8"))])
    if len(text) > MAX_FILE_SIZE:
        return ParseResult(errors=[_too_large()])
    try:
        data, lines = _load(text)
    except PipelineFileError as exc:
        return ParseResult(errors=exc.errors)
    errors = _schema_errors(data, lines)
    if not errors:
        errors = _semantic_errors(data, lines, repository_exists, runner_check, max_timeout)
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.message))  # the English, so the order is the same for all
        return ParseResult(errors=errors)
    return ParseResult(config=_normalise(data, max_timeout))


def push_matches(config: dict, ref: str) -> bool:
    """Whether a push to ``ref`` (refs/heads/… or refs/tags/…) starts this file's pipeline."""
    push = config["on"]["push"]
    if ref.startswith("refs/heads/"):
        return any(glob_match(p, ref[len("refs/heads/") :]) for p in push["branches"])
    if ref.startswith("refs/tags/"):
        return any(glob_match(p, ref[len("refs/tags/") :]) for p in push["tags"])
    return False
