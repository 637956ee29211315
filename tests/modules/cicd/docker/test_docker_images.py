"""The image a job names: unknown ones, private ones with and without the tenant's credentials, and
registries on addresses jobs may not make the engine call."""

from __future__ import annotations

import pytest

from tests.registry import push_tiny_image, registry  # noqa: F401 - fixture

from .conftest import Listener

pytestmark = pytest.mark.live


@pytest.fixture
def loopback_registries(docker_app):
    """The registry of these tests is on loopback, which jobs may use only when an operator says so."""
    saved = docker_app.config["CICD_REGISTRY_ALLOWED_HOSTS"]
    docker_app.config["CICD_REGISTRY_ALLOWED_HOSTS"] = ("127.0.0.1",)
    yield
    docker_app.config["CICD_REGISTRY_ALLOWED_HOSTS"] = saved


@pytest.fixture(scope="module")
def private_image(registry, docker_client):  # noqa: F811
    return push_tiny_image(docker_client, registry, "team/private-base:1")


def _job(dci, image_yaml: str) -> tuple[dict, str]:
    text = f"jobs:\n  build:\n    image: {image_yaml}\n    script: [echo ran in the image]\n"
    repo = dci.repo({".taiji.yml": text})
    state = dci.drive(dci.run(repo), timeout=120)
    job = state["jobs"]["build"]
    return job, dci.log(job["id"])


def test_a_private_image_runs_with_the_tenants_credentials_and_shows_its_digest(
        dci, registry, private_image, loopback_registries, docker_client):  # noqa: F811
    from taiji.modules.cicd import services

    dci.call(services.set_secret, "REGISTRY_LOGIN", f"{registry.user}:{registry.password}", protected=False)
    job, log = _job(dci, f"{{name: '{private_image}', credentials: REGISTRY_LOGIN}}")
    assert job["status"] == "success", log
    assert "ran in the image" in log
    assert registry.password not in log
    pushed = docker_client.images.get(private_image).attrs["RepoDigests"][0].split("@")[1]
    row = dci.job_row(job["id"])
    assert (row["image"], row["image_digest"]) == (private_image, pushed)

    # The engine now holds the image; a job without the credentials still does not get it.
    job, log = _job(dci, f"'{private_image}'")
    assert (job["status"], job["reason"]) == ("failed", "system"), log
    assert f"the image {private_image} is private or does not exist" in log
    assert "credentials: SECRET" in log and "$ echo" not in log


def test_wrong_or_missing_credentials_and_unknown_images_are_job_errors_naming_them(
        dci, registry, private_image, loopback_registries):  # noqa: F811
    from taiji.modules.cicd import services

    dci.call(services.set_secret, "WRONG_LOGIN", f"{registry.user}:not-the-password", protected=False)
    job, log = _job(dci, f"{{name: '{private_image}', credentials: WRONG_LOGIN}}")
    assert (job["status"], job["reason"]) == ("failed", "system"), log
    assert f"refused the credentials in the secret WRONG_LOGIN for the image {private_image}" in log

    job, log = _job(dci, f"{{name: '{private_image}', credentials: NO_SUCH_SECRET}}")
    assert job["reason"] == "system" and "secret NO_SUCH_SECRET is not set" in log, log

    dci.call(services.set_secret, "LOGIN", f"{registry.user}:{registry.password}", protected=False)
    unknown = f"{registry.address}/team/no-such-image:3"
    job, log = _job(dci, f"{{name: '{unknown}', credentials: LOGIN}}")
    assert job["reason"] == "system" and f"the image {unknown} does not exist" in log, log

    # Docker Hub is out of reach here: still an error naming the image, never a stuck job.
    job, log = _job(dci, "'taiji-test/no-such-image:1'")
    assert job["reason"] == "system" and "taiji-test/no-such-image:1" in log, log


def test_a_job_cannot_make_the_engine_call_a_loopback_address(dci):
    # What a hostile `image:` would aim at: a service on the engine's loopback (Redis, the database).
    service = Listener("127.0.0.1")
    try:
        image = f"127.0.0.1:{service.port}/anything:1"
        job, log = _job(dci, f"'{image}'")
        assert (job["status"], job["reason"]) == ("failed", "system"), log
        assert "127.0.0.1, an address jobs may not pull images from" in log
        assert "TAIJI_CICD_REGISTRY_ALLOWED_HOSTS" in log
        assert service.accepted == []
    finally:
        service.close()
