"""The Docker engine that runs CI jobs, reached through the ``docker`` SDK.

``TAIJI_DOCKER_HOST`` names it: ``unix:///path/to/docker.sock`` on this machine, or
``tcp://host:port`` with TLS client certificates (``TAIJI_DOCKER_TLS_CA``/``_CERT``/``_KEY``, or a
folder ``TAIJI_DOCKER_CERT_PATH`` holding ``ca.pem``, ``cert.pem`` and ``key.pem``, Docker's own
layout). An engine's API is root on its host, so a plain-TCP engine without certificates is
refused rather than used.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.tls

API_TIMEOUT = 60  # seconds for one API call; streams (logs, exec output) are not bound by it


class EngineError(Exception):
    """The engine is not configured, not reachable, or refused a request; the message says which."""


@dataclass(frozen=True)
class EngineSettings:
    host: str
    ca: str = ""
    cert: str = ""
    key: str = ""

    @property
    def local(self) -> bool:
        """The engine runs on this machine (its host's firewall is ours to set)."""
        return self.host.startswith("unix://")

    @property
    def socket_path(self) -> str | None:
        return self.host.removeprefix("unix://") if self.local else None


def settings_from(config) -> EngineSettings | None:
    """The engine named by the app's config, or None when CI has no Docker engine."""
    host = (config.get("DOCKER_HOST") or "").strip()
    if not host:
        return None
    return parse(host, config.get("DOCKER_TLS_CA", ""), config.get("DOCKER_TLS_CERT", ""),
                 config.get("DOCKER_TLS_KEY", ""), config.get("DOCKER_CERT_PATH", ""))


def parse(host: str, ca: str = "", cert: str = "", key: str = "", cert_path: str = "") -> EngineSettings:
    """Check a TAIJI_DOCKER_HOST value and its certificates; raises ValueError naming the problem."""
    parts = urlsplit(host)
    if parts.scheme == "unix":
        if not parts.path or parts.netloc:
            raise ValueError(f"TAIJI_DOCKER_HOST {host!r}: write a socket as unix:///absolute/path")
        return EngineSettings(host=f"unix://{parts.path}")
    if parts.scheme not in ("tcp", "https"):
        raise ValueError(f"TAIJI_DOCKER_HOST {host!r}: use unix:///path/to/docker.sock or tcp://host:port")
    if not parts.hostname or not parts.port:
        raise ValueError(f"TAIJI_DOCKER_HOST {host!r}: a tcp engine needs a host and a port")
    if cert_path:
        folder = Path(cert_path)
        ca = ca or str(folder / "ca.pem")
        cert = cert or str(folder / "cert.pem")
        key = key or str(folder / "key.pem")
    missing = [name for name, value in (("CA", ca), ("CERT", cert), ("KEY", key)) if not value]
    if missing:
        raise ValueError(
            f"TAIJI_DOCKER_HOST {host!r} is a TCP engine: set TAIJI_DOCKER_TLS_"
            + ", TAIJI_DOCKER_TLS_".join(missing)
            + " (or TAIJI_DOCKER_CERT_PATH); Taiji does not talk to an engine without TLS client certificates"
        )
    for path in (ca, cert, key):
        if not Path(path).is_file():
            raise ValueError(f"TAIJI_DOCKER_HOST {host!r}: certificate file {path} does not exist")
    return EngineSettings(host=f"tcp://{parts.hostname}:{parts.port}", ca=ca, cert=cert, key=key)


_clients: dict[EngineSettings, docker.DockerClient] = {}
_lock = threading.Lock()


def connect(settings: EngineSettings, *, fresh: bool = False) -> docker.DockerClient:
    """A client for the engine (one per process and engine; the SDK's connection pool is thread-safe)."""
    with _lock:
        client = None if fresh else _clients.get(settings)
        if client is None:
            tls = None
            if not settings.local:
                tls = docker.tls.TLSConfig(client_cert=(settings.cert, settings.key), ca_cert=settings.ca,
                                           verify=True)
            base_url = settings.host.replace("tcp://", "https://", 1) if tls else settings.host
            try:
                client = docker.DockerClient(base_url=base_url, tls=tls, timeout=API_TIMEOUT,
                                             version="1.41", max_pool_size=32)
            except docker.errors.DockerException as exc:
                raise EngineError(f"cannot reach the Docker engine at {settings.host}: {exc}") from exc
            # The SDK's API client is a requests session: without this, REQUESTS_CA_BUNDLE or
            # CURL_CA_BUNDLE in the worker's environment would replace the engine's own CA (any
            # certificate of that bundle would then pass for the engine) and HTTPS_PROXY would
            # route the engine's API through a proxy.
            client.api.trust_env = False
            if not fresh:
                _clients[settings] = client
        return client


def client_for(config) -> docker.DockerClient:
    settings = settings_from(config)
    if settings is None:
        raise EngineError("no Docker engine is configured (TAIJI_DOCKER_HOST)")
    return connect(settings)


def describe(client: docker.DockerClient) -> str:
    """One line about the engine, for the log and `taiji images`: version, storage driver."""
    try:
        info = client.version()
    except docker.errors.DockerException as exc:
        raise EngineError(f"the Docker engine does not answer: {exc}") from exc
    return f"Docker {info.get('Version', '?')} (API {info.get('ApiVersion', '?')}, {info.get('Os', '?')}/" \
           f"{info.get('Arch', '?')})"
