"""The image a job names: check the reference, pull it (with the tenant's credentials), report its digest.

Pull policy: an image made by ``taiji images bootstrap`` (it carries the key label) belongs to the
engine and is used as it is. Every other image is pulled again for every job, with the job's
credentials or none: the pull is what proves the tenant may have the image, so a private image
another tenant pulled earlier is never handed out from the engine's cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors
import requests.exceptions

from taiji.platform import egress

from .containers import JobError
from .engine import EngineError
from .images import KEY_LABEL
from .reference import DEFAULT_REGISTRY, Reference
from .reference import parse_reference as _parse


def parse_reference(text: str) -> Reference:
    try:
        return _parse(text)
    except ValueError as exc:
        raise JobError(str(exc)) from exc


def credentials_from(secret_name: str, value: str, registry: str) -> dict:
    """``user:password`` (a token as the password works too) as the engine's auth_config."""
    user, sep, password = value.strip().partition(":")
    if not sep or not user or not password:
        raise JobError(f"the secret {secret_name} must hold registry credentials as user:password")
    return {"username": user, "password": password, "serveraddress": registry}


@dataclass(frozen=True)
class Resolved:
    reference: str  # what the container is created from
    digest: str  # the registry's manifest digest when pulled, else the image id


def _bootstrapped(client: docker.DockerClient, ref: Reference):
    try:
        image = client.images.get(ref.text)
    except docker.errors.ImageNotFound:
        return None
    return image if KEY_LABEL in (image.labels or {}) else None


def _refusal(ref: Reference, allowed: tuple[str, ...]) -> str | None:
    if ref.registry == DEFAULT_REGISTRY:
        return None
    refused = egress.host_refusal(ref.registry_host, allowed, unresolved_ok=True)
    if refused is None:
        return None
    return f"the image {ref.text} cannot be pulled: " + refused.explain(
        "an address jobs may not pull images from", "TAIJI_CICD_REGISTRY_ALLOWED_HOSTS")


def resolve(client: docker.DockerClient, text: str, *, credentials: dict | None, credentials_name: str = "",
            allowed_hosts: tuple[str, ...] = ()) -> Resolved:
    """Make the image available in the engine, as the pull policy above says; JobError when it
    cannot be had, with the reason in the user's terms."""
    ref = parse_reference(text)
    try:
        local = _bootstrapped(client, ref)
        if local is not None:
            return Resolved(reference=ref.text, digest=local.id)
        refused = _refusal(ref, allowed_hosts)
        if refused:
            raise JobError(refused)
        _pull(client, ref, credentials, credentials_name)
        image = client.images.get(ref.text)
    except docker.errors.ImageNotFound as exc:
        raise JobError(f"the image {ref.text} was pulled but the engine cannot find it: {exc}") from exc
    except docker.errors.APIError as exc:
        # The engine's words about the registry (not found, unauthorized, unreachable): the job's error.
        raise JobError(_explain(ref, str(exc.explanation or exc), credentials_name)) from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"pulling {ref.text}: the Docker engine does not answer ({exc})") from exc
    digest = ref.digest
    if not digest:
        for repo_digest in image.attrs.get("RepoDigests") or []:
            name, _, value = repo_digest.partition("@")
            if name in (ref.repository, f"docker.io/{ref.repository}", f"docker.io/library/{ref.repository}"):
                digest = value
                break
    return Resolved(reference=ref.text, digest=digest or image.id)


def _pull(client: docker.DockerClient, ref: Reference, credentials: dict | None,
          credentials_name: str) -> None:
    tag = ref.digest or ref.tag
    stream = client.api.pull(ref.repository, tag=tag, auth_config=credentials, stream=True, decode=True)
    for event in stream:
        error = event.get("error") or (event.get("errorDetail") or {}).get("message")
        if error:
            raise JobError(_explain(ref, error, credentials_name))


def _explain(ref: Reference, error: str, credentials_name: str) -> str:
    lowered = error.lower()
    denied = any(word in lowered for word in ("unauthorized", "authentication required", "access denied",
                                              "no basic auth credentials", "denied:", "forbidden"))
    if denied and credentials_name:
        return (f"the registry {ref.registry} refused the credentials in the secret {credentials_name} "
                f"for the image {ref.text}: {error}")
    if denied:
        return (f"the image {ref.text} is private or does not exist: the registry {ref.registry} wants "
                f"credentials ({error}). Name a CI secret holding user:password with "
                f"`image: {{name: {ref.text}, credentials: SECRET}}`")
    if any(word in lowered for word in ("not found", "manifest unknown", "does not exist", "name unknown")):
        return f"the image {ref.text} does not exist on {ref.registry}: {error}"
    return f"the image {ref.text} could not be pulled from {ref.registry}: {error}"
