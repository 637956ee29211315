"""Image references as Docker reads them (``registry/path:tag@digest``), checked without an engine."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]{{1,5}})?"
REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
DEFAULT_REGISTRY = "docker.io"
MAX_REFERENCE = 255


@dataclass(frozen=True)
class Reference:
    text: str
    registry: str  # docker.io when the reference names none
    repository: str  # as the engine names it: "registry/path" or "path" for Docker Hub
    tag: str
    digest: str

    @property
    def registry_host(self) -> str:
        host = self.registry
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host


def parse_reference(text: str) -> Reference:
    """A ``name[:tag][@digest]`` reference, or ValueError. Image ids (``sha256:…``) are refused:
    an id names whatever the engine happens to hold, which is not the tenant's to choose."""
    text = (text or "").strip()
    if re.fullmatch(r"(sha256:)?[a-f0-9]{12,64}", text):
        raise ValueError(f"'{text[:100]}' is an image id; name the image by its reference instead")
    match = REFERENCE.match(text) if len(text) <= MAX_REFERENCE else None
    if match is None:
        raise ValueError(f"'{text[:100]}' is not an image reference (name[:tag][@sha256:digest])")
    domain, path = match["domain"], match["path"]
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        # "team/app": the first component is a namespace on Docker Hub, not a host.
        path, domain = f"{domain}/{path}", None
    repository = f"{domain}/{path}" if domain else path
    tag = match["tag"] or ("" if match["digest"] else "latest")
    return Reference(text=text, registry=domain or DEFAULT_REGISTRY, repository=repository, tag=tag,
                     digest=match["digest"] or "")


def default_alias(reference: str) -> str:
    """As GitLab CI: the image's path without registry and tag, '/' becoming '-' ("bitnami-redis")."""
    ref = parse_reference(reference)
    path = ref.repository.split("/", 1)[1] if ref.registry != DEFAULT_REGISTRY else ref.repository
    return re.sub(r"[^a-z0-9-]", "-", path.lower()).strip("-")[:63] or "service"
