"""`.taiji.yml`: parse, validate against the JSON Schema, check what a schema cannot, normalise.

The file is read through PyYAML's node API so that every value keeps the line it came from:
every error names its line ("line 7: job 'package' needs unknown job 'tset'"). A file with any
error yields no pipeline config at all, so a pipeline never half-runs.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml
from croniter import croniter

from taiji.platform import safeyaml

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
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        if not self.line:
            return f"{FILE_NAME}: {self.message}"
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{FILE_NAME}: {where}: {self.message}"


@dataclass
class ParseResult:
    config: dict | None = None
    errors: list[FileError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class PipelineFileError(ValueError):
    def __init__(self, errors: list[FileError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


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
                raise PipelineFileError([FileError(key_node.start_mark.line + 1, "keys must be plain names")])
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise PipelineFileError(
                    [FileError(key_node.start_mark.line + 1, "'<<' merge keys are not supported")]
                )
            # Keys stay text: YAML 1.1 would turn the key `on` into the boolean true.
            key = str(key_node.value)
            if key in result:
                raise PipelineFileError([FileError(key_node.start_mark.line + 1, f"duplicate key '{key}'")])
            lines.keys[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, index), lines) for index, item in enumerate(node.value)]
    try:
        value = safeyaml.scalar(node)
    except safeyaml.UntrustedYAML as exc:
        raise PipelineFileError([FileError(exc.line, exc.problem, exc.column)]) from None
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
        raise PipelineFileError([FileError(exc.line, exc.problem, exc.column)]) from None
    if node is None:
        raise PipelineFileError([FileError(1, "the file is empty; it needs at least `jobs:`")])
    if not isinstance(node, yaml.MappingNode):
        raise PipelineFileError(
            [FileError(node.start_mark.line + 1, "the file must be a mapping with `jobs:`")]
        )
    return _to_python(node, (), lines), lines


# -- validation --------------------------------------------------------------------------------


def _schema_errors(data: dict, lines: _Lines) -> list[FileError]:
    validator = jsonschema.Draft202012Validator(schema())
    errors = []
    for error in validator.iter_errors(data):
        path = tuple(error.absolute_path)
        where = ".".join(str(p) for p in path) or "the file"
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            for key in extra:
                errors.append(FileError(lines.of((*path, key), key=True), f"{where}: unknown key '{key}'"))
            continue
        if error.validator == "required":
            errors.append(FileError(lines.of(path, key=True), f"{where}: {error.message}"))
            continue
        if error.validator == "propertyNames" or "propertyNames" in error.schema_path:
            bad = error.instance
            errors.append(
                FileError(lines.of((*path, bad), key=True), f"{where}: '{bad}' is not a valid name")
            )
            continue
        message = error.message
        if error.validator == "oneOf" and "length of time" in str(error.schema.get("description", "")):
            message = f"{error.instance!r} is not a duration like 90s, 10m or 1h30m"
        elif error.validator == "oneOf":
            message = _one_of_message(error)
        errors.append(FileError(lines.of(path), f"{where}: {message}"))
    return errors


def _one_of_message(error) -> str:
    """What is wrong with a value that fits none of the alternatives: said by the alternative of
    the value's own type ('' is too short; a service's alias does not match)."""
    branches: dict = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in branches.values():
        if any(sub.validator == "type" and not sub.relative_path for sub in subs):
            continue  # the value is not of this alternative's type
        sub = subs[0]
        where = ".".join(str(p) for p in sub.relative_path)
        text = sub.message
        if sub.validator == "additionalProperties":
            extra = sorted(set(sub.instance) - set(sub.schema.get("properties", {})))
            text = f"unknown key '{extra[0]}'" if extra else text
        return f"{where}: {text}" if where else text
    return f"{error.instance!r} has the wrong type"


def _check_glob(pattern: str, line: int | None, what: str, errors: list, *, path_like: bool = False) -> None:
    try:
        glob_regex(pattern)
    except (ValueError, re.error) as exc:
        errors.append(FileError(line, f"{what}: bad glob: {exc}"))
        return
    if path_like and (pattern.startswith("/") or ".." in pattern.split("/")):
        errors.append(
            FileError(line, f"{what}: '{pattern}' must stay inside the checkout (no leading / or ..)")
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
                f"{what}: runner '{runner}' is not available (use one of: {', '.join(KNOWN_RUNNERS)})",
            )
        ]
    refusal = runner_check(runner) if runner_check else None
    return [FileError(lines.of(path), f"{what}: {refusal}")] if refusal else []


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
            _check_glob(pattern, lines.of(("on", "push", kind, index)), f"on.push.{kind}", errors)
    for index, line in enumerate(on.get("schedule") or []):
        if not croniter.is_valid(line) or len(line.split()) != 5:
            errors.append(
                FileError(
                    lines.of(("on", "schedule", index)),
                    f"on.schedule: '{line}' is not a cron line (minute hour day month weekday)",
                )
            )
    jobs = data.get("jobs") or {}
    for name, job in jobs.items():
        base = ("jobs", name)
        for index, need in enumerate(job.get("needs") or []):
            if need == name:
                errors.append(FileError(lines.of((*base, "needs", index)), f"job '{name}' needs itself"))
            elif need not in jobs:
                errors.append(
                    FileError(lines.of((*base, "needs", index)), f"job '{name}' needs unknown job '{need}'")
                )
        if "timeout" in job:
            seconds = parse_duration(job["timeout"])
            if seconds is None or seconds > MAX_TIMEOUT:
                errors.append(
                    FileError(
                        lines.of((*base, "timeout")),
                        f"job '{name}': timeout {job['timeout']!r} must be a duration "
                        "like 90s, 10m or 1h30m, at most 24h",
                    )
                )
            elif max_timeout is not None and seconds > max_timeout:
                errors.append(
                    FileError(
                        lines.of((*base, "timeout")),
                        f"job '{name}': timeout {job['timeout']!r} is longer than this tenant's longest "
                        f"job time, {format_duration(max_timeout)}: ask for at most that, or ask a "
                        "platform administrator to raise the tenant's quota cicd.job_timeout_seconds",
                    )
                )
        artifacts = job.get("artifacts") or {}
        for index, pattern in enumerate(artifacts.get("paths") or []):
            _check_glob(
                pattern,
                lines.of((*base, "artifacts", "paths", index)),
                f"job '{name}' artifacts.paths",
                errors,
                path_like=True,
            )
        if "expire_in" in artifacts and parse_duration(artifacts["expire_in"]) is None:
            errors.append(
                FileError(
                    lines.of((*base, "artifacts", "expire_in")),
                    f"job '{name}': expire_in {artifacts['expire_in']!r} is not a duration",
                )
            )
        repository = (artifacts.get("publish") or {}).get("repository")
        if repository and repository_exists is not None and not repository_exists(repository):
            errors.append(
                FileError(
                    lines.of((*base, "artifacts", "publish", "repository")),
                    f"job '{name}': no binary repository '{repository}' in this tenant",
                )
            )
        junit = (job.get("reports") or {}).get("junit")
        for index, pattern in enumerate([junit] if isinstance(junit, str) else junit or []):
            path = (
                (*base, "reports", "junit") if isinstance(junit, str) else (*base, "reports", "junit", index)
            )
            _check_glob(pattern, lines.of(path), f"job '{name}' reports.junit", errors, path_like=True)
        for path, message in container_file.job_errors(name, job):
            errors.append(FileError(lines.of(path), message))
        errors += _runner_errors(job.get("runner"), (*base, "runner"), f"job '{name}'", lines, runner_check)
        errors.extend(_jenkins_errors(name, job, lines))
    errors.extend(_cycle_errors(jobs, lines))
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
        errors.append(FileError(where, f"job '{name}': `jenkins:` runs it on Jenkins, but its runner is "
                                       f"'{job['runner']}'"))
    if options.get("job") and "script" in job:
        errors.append(FileError(where, f"job '{name}': a job that triggers the Jenkins job "
                                       f"'{options['job']}' has no script of its own"))
    if options.get("parameters") and not options.get("job"):
        errors.append(FileError(where, f"job '{name}': `jenkins.parameters` are for an existing Jenkins job "
                                       "(`jenkins.job`)"))
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
                        f"jobs depend on each other in a cycle: {' -> '.join(cycle)}",
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
            return ParseResult(
                errors=[FileError(None, f"the file is larger than {MAX_FILE_SIZE // 1024} KiB")]
            )
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return ParseResult(errors=[FileError(None, "the file is not UTF-8 text")])
    if len(text) > MAX_FILE_SIZE:
        return ParseResult(errors=[FileError(None, f"the file is larger than {MAX_FILE_SIZE // 1024} KiB")])
    try:
        data, lines = _load(text)
    except PipelineFileError as exc:
        return ParseResult(errors=exc.errors)
    errors = _schema_errors(data, lines)
    if not errors:
        errors = _semantic_errors(data, lines, repository_exists, runner_check, max_timeout)
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.message))
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
