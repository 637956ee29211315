"""`.taiji.yml`: every error names the file's line; good files normalise; docs examples validate."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from taiji.modules.cicd import pipeline_file as pf

ROOT = Path(__file__).resolve().parents[3]

BROKEN = [
    ("not yaml", "jobs:\n  build:\n    script: [make\n", 4, "a list in [brackets] is not closed"),
    ("empty", "", 1, "the file is empty"),
    ("a list at the top", "- build\n", 1, "must be a mapping"),
    ("no jobs", "env: {A: b}\n", 1, "the file is missing the key 'jobs'; add it"),
    ("unknown top key", "jobs:\n  a: {script: x}\nstages: [x]\n", 3, "unknown key 'stages'"),
    ("unknown job key", "jobs:\n  a:\n    script: x\n    scirpt: y\n", 4, "unknown key 'scirpt'"),
    ("job without script", "jobs:\n  a:\n    needs: []\n", 2, "job 'a' is missing the key 'script'"),
    ("script of the wrong type", "jobs:\n  a:\n    script: {x: 1}\n", 3,
     "job 'a' script must be a command or a list of commands, not a mapping"),
    (
        "unknown needs",
        "jobs:\n  a: {script: x}\n  b:\n    script: y\n    needs: [a, c]\n",
        5,
        "job 'b' needs unknown job 'c'",
    ),
    ("needs itself", "jobs:\n  a:\n    script: x\n    needs: [a]\n", 4, "job 'a' needs itself"),
    (
        "cycle",
        "jobs:\n  a:\n    script: x\n    needs: [b]\n  b:\n    script: y\n    needs: [a]\n",
        7,
        "cycle: a -> b -> a",
    ),
    ("bad timeout", "jobs:\n  a:\n    script: x\n    timeout: 10 minutes\n", 4, "not a duration"),
    ("timeout too long", "jobs:\n  a:\n    script: x\n    timeout: 25h\n", 4, "at most 24h"),
    ("bad cron", "on:\n  schedule: ['0 3 * *']\njobs:\n  a: {script: x}\n", 2, "not a cron line"),
    (
        "cron out of range",
        "on:\n  schedule:\n    - '61 * * * *'\njobs:\n  a: {script: x}\n",
        3,
        "not a cron line",
    ),
    (
        "bad branch glob",
        "on:\n  push:\n    branches: ['release/[1-2']\njobs:\n  a: {script: x}\n",
        3,
        "bad glob",
    ),
    (
        "artifact outside",
        "jobs:\n  a:\n    script: x\n    artifacts:\n      paths: [../secret]\n",
        5,
        "must stay inside the checkout",
    ),
    (
        "absolute artifact",
        "jobs:\n  a:\n    script: x\n    artifacts:\n      paths: [/etc/passwd]\n",
        5,
        "must stay inside the checkout",
    ),
    (
        "bad expire_in",
        "jobs:\n  a:\n    script: x\n    artifacts: {paths: [d], expire_in: soon}\n",
        4,
        "not a duration",
    ),
    ("bad when", "jobs:\n  a:\n    script: x\n    when: always\n", 4, "is not one of"),
    ("bad env name", "env:\n  1X: y\njobs:\n  a: {script: x}\n", 2, "'1X' is not a valid name"),
    ("env value a mapping", "jobs:\n  a:\n    script: x\n    env:\n      A: {b: c}\n", 5,
     "job 'a' env.A must be text, a number or true/false, not a mapping"),
    ("bad job name", "jobs:\n  'my job': {script: x}\n", 2, "'my job' is not a valid name"),
    ("duplicate key", "jobs:\n  a: {script: x}\n  a: {script: y}\n", 3, "duplicate key 'a'"),
    ("other runner", "jobs:\n  a:\n    script: x\n    runner: kubernetes\n", 4, "not available"),
    ("jenkins on another runner", "jobs:\n  a:\n    script: x\n    runner: builtin\n    jenkins: {}\n", 5,
     "`jenkins:` runs it on Jenkins"),
    ("existing jenkins job with a script", "jobs:\n  a:\n    script: x\n    jenkins: {job: deploy}\n", 4,
     "has no script of its own"),
    ("jenkins parameters without a job", "jobs:\n  a:\n    script: x\n    jenkins: {parameters: {A: b}}\n", 4,
     "are for an existing Jenkins job"),
    ("jenkins job without a name", "jobs:\n  a:\n    jenkins: {controller: main}\n", 2,
     "job 'a' is missing the key 'script'"),
    ("jenkins unknown key", "jobs:\n  a:\n    script: x\n    jenkins: {agent: any}\n", 4,
     "unknown key 'agent'"),
    (
        "unknown publish repository",
        "jobs:\n  a:\n    script: x\n    artifacts:\n      paths: [d]\n"
        "      publish: {repository: nowhere}\n",
        6,
        "no binary repository 'nowhere'",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_errors_name_the_line(text, line, fragment):
    result = pf.parse(text, repository_exists=lambda name: name == "pypi-internal")
    assert not result.ok
    first = result.errors[0]
    assert fragment in first.message, result.message
    assert first.line == line, result.message
    assert re.match(rf"\.taiji\.yml: line {line}(, column \d+)?: ", str(first)), str(first)


def test_the_issues_example_parses_to_what_the_runner_needs():
    text = (ROOT / "docs" / "pipeline-format.md").read_text()
    example = _yaml_blocks(text)[0]
    result = pf.parse(example, repository_exists=lambda name: name == "pypi-internal")
    assert result.ok, result.message
    config = result.config
    assert config["on"]["push"] == {"branches": ["main", "release/*"], "tags": ["v*"]}
    test, package = config["jobs"]["test"], config["jobs"]["package"]
    assert test["timeout"] == 600 and test["junit"] == ["report.xml"] and package["needs"] == ["test"]
    assert package["artifacts"]["publish"] == "pypi-internal" and package["timeout"] == pf.DEFAULT_TIMEOUT


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", markdown, flags=re.S)


def test_every_example_in_the_docs_is_valid_against_the_schema_and_the_checks():
    blocks = _yaml_blocks((ROOT / "docs" / "pipeline-format.md").read_text())
    assert len(blocks) >= 5
    for block in blocks:
        if "# invalid" in block:
            assert not pf.parse(block).ok
            continue
        result = pf.parse(block, repository_exists=lambda name: True)
        assert result.ok, f"{result.message}\n{block}"


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(pf.schema())


def test_on_is_a_key_not_a_boolean_and_values_keep_their_text():
    result = pf.parse(
        "on:\n  push: {branches: [main]}\nenv: {ON: yes, N: 1.50, T: 2026-01-01}\n"
        "jobs:\n  a: {script: [echo $ON]}\n"
    )
    assert result.ok, result.message
    assert result.config["env"] == {"ON": "true", "N": "1.5", "T": "2026-01-01"}


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("main", "main", True),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1/hotfix", False),
        ("release/**", "release/1/hotfix", True),
        ("v*", "v1.2.0", True),
        ("v[0-9]*", "vx", False),
        ("**", "feature/a/b", True),
        ("feat?", "feat1", True),
        ("feat?", "feat/", False),
    ],
)
def test_branch_and_tag_globs(pattern, name, matches):
    assert pf.glob_match(pattern, name) is matches


def test_without_on_every_branch_push_runs_and_tags_do_not():
    config = pf.parse("jobs:\n  a: {script: x}\n").config
    assert pf.push_matches(config, "refs/heads/feature/x") and not pf.push_matches(config, "refs/tags/v1")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h30m", 5400),
        ("7d", 604800),
        (45, 45),
        ("0s", None),
        ("soon", None),
        ("", None),
    ],
)
def test_durations(text, seconds):
    assert pf.parse_duration(text) == seconds


def test_huge_or_binary_files_are_refused_cleanly():
    assert "larger than" in pf.parse(b"x" * (pf.MAX_FILE_SIZE + 1)).message
    assert "not UTF-8" in pf.parse(b"\xff\xfe jobs").message
    assert (
        "nested too deeply" in pf.parse("jobs: " + "[" * 5000).message
        or not pf.parse("jobs: " + "[" * 5000).ok
    )


def test_jenkins_jobs_parse_to_what_the_jenkins_runner_needs():
    from taiji.modules.cicd import pipeline_file

    result = pipeline_file.parse(
        "jobs:\n"
        "  build:\n    runner: jenkins\n    script: [make]\n"
        "  deploy:\n    needs: [build]\n"
        "    jenkins: {controller: farm, job: folder/deploy, parameters: {V: 1, ON: true}}\n"
        "  local:\n    script: [echo]\n"
    )
    assert result.ok, result.message
    jobs = result.config["jobs"]
    assert (jobs["build"]["runner"], jobs["build"]["jenkins"]) == ("jenkins", None)
    assert jobs["deploy"]["runner"] == "jenkins" and jobs["deploy"]["script"] == []
    assert jobs["deploy"]["jenkins"] == {"controller": "farm", "job": "folder/deploy",
                                         "parameters": {"V": "1", "ON": "true"}}
    assert jobs["local"]["runner"] is None  # the repository's default runner decides
