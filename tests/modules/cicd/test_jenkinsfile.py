"""The Jenkinsfile and config.xml Taiji generates for a job."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from taiji.modules.cicd.jenkins import jenkinsfile


def test_a_job_with_env_timeout_secrets_reports_and_artifacts():
    spec = jenkinsfile.Pipeline(
        name="test",
        script=["pip install -e .", "pytest --junitxml=reports/junit.xml"],
        env={"MODE": "ci", "QUOTE": "it's"},
        timeout=600,
        junit=["reports/*.xml"],
        artifacts=["dist/"],
        parameters=["TAIJI_COMMIT_SHA", "TAIJI_GIT_URL"],
        passwords=["PYPI_TOKEN"],
    )
    assert jenkinsfile.jenkinsfile(spec) == """pipeline {
  agent any
  options {
    timeout(time: 600, unit: 'SECONDS')
    disableResume()
  }
  environment {
    MODE = 'ci'
    QUOTE = 'it\\'s'
  }
  stages {
    stage('Checkout') {
      steps {
        deleteDir()
        sh CHECKOUT
      }
    }
    stage('test') {
      steps {
        sh 'pip install -e .'
        sh 'pytest --junitxml=reports/junit.xml'
      }
    }
  }
  post {
    always {
      junit(testResults: 'reports/*.xml', allowEmptyResults: true)
    }
    success {
      archiveArtifacts(artifacts: 'dist,dist/**', allowEmptyArchive: true)
    }
  }
}
""".replace("CHECKOUT", jenkinsfile.groovy(jenkinsfile.CHECKOUT))
    config = jenkinsfile.config_xml(spec, "from Taiji")
    root = ET.fromstring(config)  # noqa: S314 - our own output
    definitions = root.find("./properties/hudson.model.ParametersDefinitionProperty/parameterDefinitions")
    assert [(d.tag.rsplit(".", 1)[-1], d.findtext("name")) for d in definitions] == [
        ("StringParameterDefinition", "TAIJI_COMMIT_SHA"),
        ("StringParameterDefinition", "TAIJI_GIT_URL"),
        ("PasswordParameterDefinition", "PYPI_TOKEN"),
    ]
    assert root.findtext("./definition/sandbox") == "true"
    assert root.findtext("./definition/script") == jenkinsfile.jenkinsfile(spec)


def test_the_item_name_follows_the_definition():
    a = jenkinsfile.item_name("acme", "shop/api", "unit tests", "<config-1/>")
    b = jenkinsfile.item_name("acme", "shop/api", "unit tests", "<config-2/>")
    assert a.startswith("taiji-acme-shop-api-unit-tests-") and a != b
    assert a == jenkinsfile.item_name("acme", "shop/api", "unit tests", "<config-1/>")


def test_groovy_literals_escape_everything_that_could_end_them():
    assert jenkinsfile.groovy("a'b\\c\nd${x}\u2028") == "'a\\'b\\\\c\\nd${x}\\u2028'"
