"""A job of `.taiji.yml` as a Jenkins pipeline job: a declarative Jenkinsfile and its config.xml.

Everything the job's author wrote (script lines, env values, names, globs) enters the Jenkinsfile
only as single-quoted Groovy string literals, escaped: it is text handed to `sh`, never Groovy
code, and the script runs in the Groovy sandbox besides. Values that change per run — the commit,
the pipeline's variables and the job's secrets — are not in the Jenkinsfile at all: they are build
parameters (secrets and variables as password parameters, which Jenkins keeps encrypted and does
not show in the build's parameter page), which a pipeline sees as environment variables.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

ITEM_PREFIX = "taiji"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
CHECKOUT = (
    'git clone --quiet --no-checkout "$TAIJI_GIT_URL" . && '
    'git -c advice.detachedHead=false checkout --quiet --detach "$TAIJI_COMMIT_SHA"'
)


def groovy(text: str) -> str:
    """``text`` as a single-quoted Groovy string literal (no interpolation; escapes only)."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\f", "\\f")
        .replace("\b", "\\b")
    )
    # Other control characters as unicode escapes: a literal stays one line, whatever was written.
    escaped = re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f"'{escaped}'"


@dataclass
class Pipeline:
    """What the generated job needs to know about a Taiji job."""

    name: str
    script: list[str]
    env: dict[str, str] = field(default_factory=dict)
    timeout: int = 1800
    checkout: bool = True
    junit: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    # Build parameters: plain ones (the run's context) and password ones (variables, secrets).
    parameters: list[str] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)


def jenkinsfile(spec: Pipeline) -> str:
    """The declarative Jenkinsfile of the job."""
    lines = ["pipeline {", "  agent any", "  options {"]
    lines.append(f"    timeout(time: {int(spec.timeout)}, unit: 'SECONDS')")
    lines += ["    disableResume()", "  }"]
    if spec.env:
        lines.append("  environment {")
        lines += [f"    {name} = {groovy(value)}" for name, value in spec.env.items()]
        lines.append("  }")
    lines.append("  stages {")
    if spec.checkout:
        lines += [
            "    stage('Checkout') {",
            "      steps {",
            "        deleteDir()",
            f"        sh {groovy(CHECKOUT)}",
            "      }",
            "    }",
        ]
    lines += [f"    stage({groovy(spec.name)}) {{", "      steps {"]
    lines += [f"        sh {groovy(line)}" for line in spec.script]
    lines += ["      }", "    }", "  }"]
    post = []
    if spec.junit:
        post += [
            "    always {",
            f"      junit(testResults: {groovy(','.join(spec.junit))}, allowEmptyResults: true)",
            "    }",
        ]
    if spec.artifacts:
        post += [
            "    success {",
            f"      archiveArtifacts(artifacts: {groovy(ant_patterns(spec.artifacts))},"
            " allowEmptyArchive: true)",
            "    }",
        ]
    if post:
        lines += ["  post {", *post, "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def ant_patterns(globs: list[str]) -> str:
    """Taiji's artifact globs as Ant patterns: a pattern naming a folder keeps everything under it."""
    out = []
    for pattern in globs:
        pattern = pattern.rstrip("/") or "."
        out += [pattern, f"{pattern}/**"]
    return ",".join(dict.fromkeys(out))


def config_xml(spec: Pipeline, description: str) -> str:
    """The pipeline job's config.xml: its parameters and the Jenkinsfile as a sandboxed script.

    The parameters are declared here, not in the Jenkinsfile, so that the very first build
    already takes them (a Jenkinsfile's `parameters` apply only from the build after it ran)."""
    root = ET.Element("flow-definition", {"plugin": "workflow-job"})
    ET.SubElement(root, "description").text = description
    ET.SubElement(root, "keepDependencies").text = "false"
    properties = ET.SubElement(root, "properties")
    if spec.parameters or spec.passwords:
        holder = ET.SubElement(properties, "hudson.model.ParametersDefinitionProperty")
        definitions = ET.SubElement(holder, "parameterDefinitions")
        for name in spec.parameters:
            item = ET.SubElement(definitions, "hudson.model.StringParameterDefinition")
            ET.SubElement(item, "name").text = name
            ET.SubElement(item, "defaultValue").text = ""
            ET.SubElement(item, "trim").text = "false"
        for name in spec.passwords:
            item = ET.SubElement(definitions, "hudson.model.PasswordParameterDefinition")
            ET.SubElement(item, "name").text = name
            ET.SubElement(item, "defaultValue").text = ""
    definition = ET.SubElement(
        root,
        "definition",
        {"class": "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition", "plugin": "workflow-cps"},
    )
    ET.SubElement(definition, "script").text = jenkinsfile(spec)
    ET.SubElement(definition, "sandbox").text = "true"
    ET.SubElement(root, "triggers")
    ET.SubElement(root, "disabled").text = "false"
    ET.indent(root)
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"


def item_name(tenant: str, repository: str, job: str, config: str) -> str:
    """The controller's job for this definition: named for where it comes from, and for the
    definition itself (a digest), so that two pipelines of different commits running at once never
    build each other's Jenkinsfile."""
    digest = hashlib.sha256(config.encode()).hexdigest()[:10]
    base = _UNSAFE.sub("-", f"{ITEM_PREFIX}-{tenant}-{repository}-{job}").strip("-.")[:180]
    return f"{base}-{digest}"
