"""`.taiji.yml` `config:` (configuration rendered before the jobs' scripts): a good block reaches
every job's spec; a bad one is a pipeline-file error in words, with its line."""

from __future__ import annotations

import pytest

from taiji.modules.cicd import pipeline_file as pf

JOBS = "jobs:\n  build:\n    script: ['true']\n  test:\n    script: ['true']\n"


def test_the_block_reaches_every_job():
    text = ("config:\n  component: payments\n  environment: dev\n"
            "  render: ['config/*.tmpl', '**/*.env.tmpl']\n")
    result = pf.parse(text + JOBS)
    assert result.ok, result.message
    for job in result.config["jobs"].values():
        assert job["config"] == {"component": "payments", "environment": "dev",
                                 "render": ["config/*.tmpl", "**/*.env.tmpl"]}


def test_a_file_without_the_block_renders_nothing():
    result = pf.parse(JOBS)
    assert result.ok and all("config" not in job for job in result.config["jobs"].values())


@pytest.mark.parametrize(
    ("block", "line", "words"),
    [
        ("config: yes\n", 1, "config must be a mapping (key: value lines), not true or false"),
        ("config:\n  component: p\n  render: [a.tmpl]\n", 1,
         "config is missing the key 'environment'; add it"),
        ("config:\n  component: p\n  environment: Prod\n  render: [a.tmpl]\n", 3,
         "config.environment: 'Prod' is not an environment name"),
        ("config:\n  component: p\n  environment: dev\n  render: a.tmpl\n", 4,
         "config.render must be a list, not text"),
        ("config:\n  component: p\n  environment: dev\n  render: []\n", 4, "config.render must not be empty"),
        ("config:\n  component: p\n  environment: dev\n  render: [a.tmpl]\n  namespce: db\n", 5,
         "config: unknown key 'namespce'"),
        ("config:\n  component: p\n  environment: dev\n  render:\n    - ok.tmpl\n    - app.conf\n", 6,
         "config.render: 'app.conf' must name template files ending in .tmpl"),
        ("config:\n  component: p\n  environment: dev\n  render:\n    - ../secrets.tmpl\n", 5,
         "config.render: '../secrets.tmpl' must stay inside the checkout"),
        ("config:\n  component: p\n  environment: dev\n  render: ['/etc/x.tmpl']\n", 4,
         "must stay inside the checkout"),
        ("config:\n  component: p\n  environment: dev\n  render: ['[x.tmpl']\n", 4,
         "config.render: bad glob"),
        ("config:\n  component: 'a/b'\n  environment: dev\n  render: [x.tmpl]\n", 2,
         "config.component: 'a/b' is not a component name"),
        ("config:\n  component: ''\n  environment: dev\n  render: [x.tmpl]\n", 2,
         "config.component must not be empty"),
    ],
)
def test_a_bad_block_is_an_error_of_the_file_with_its_line(block, line, words):
    result = pf.parse(block + JOBS)
    assert not result.ok
    assert any(e.line == line and words in e.message for e in result.errors), result.message
    assert f".taiji.yml: line {line}: " in result.message


def test_the_block_is_in_the_published_schema():
    import jsonschema

    schema = pf.schema()
    good = {"config": {"component": "payments", "environment": "dev", "render": ["a.tmpl"]},
            "jobs": {"a": {"script": "true"}}}
    jsonschema.Draft202012Validator(schema).validate(good)
    assert "config" in schema["properties"]
