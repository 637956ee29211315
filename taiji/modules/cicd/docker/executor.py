"""The `docker` executor: a job's lines run in a container of its image on TAIJI_DOCKER_HOST.

- The image is the job's ``image`` (default TAIJI_CICD_DEFAULT_IMAGE), pulled as pulls.py says.
- The checkout is copied into ``/workspace`` (the engine may be on another machine) and the
  files the lifecycle collects (artifacts, reports) are copied back before it collects them.
- Lines run as uid 1000 without capabilities, under CPU, memory and process limits; the engine's
  socket is never mounted; the container is on a network of its own that reaches the outside but
  not the engine's host (firewall.py), with the job's ``services`` beside it.
- Cancel, timeout, a limit: every process of the job, then the container, goes. The container
  and its network are removed when the job ends, and an earlier attempt's before a retry starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import docker.errors
import requests.exceptions
import sqlalchemy as sa

from taiji.platform.db import db

from ..models import Job
from ..pipeline_file import glob_regex
from ..runners.executor import Executor, ExecutorError, JobContext, LineProcess, register_executor
from ..runners.process import retrying
from . import firewall, pulls
from .containers import JobContainer, JobError, Limits, Owner, Service, engine_call, remove_attempts
from .engine import EngineError, connect, settings_from
from .reference import default_alias

log = logging.getLogger("taiji.cicd.docker")

INSPECT_SECONDS = 0.5  # how often a line's exit is asked for while its output is still open
DISK_SECONDS = 2.0  # how often the container's disk use is measured while a line runs
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def available(config: Mapping) -> str | None:
    try:
        settings = settings_from(config)
    except ValueError as exc:
        return str(exc)
    if settings is None:
        return "no Docker engine is configured for CI jobs (TAIJI_DOCKER_HOST)"
    return None


def image_of(spec: dict, fallback: str | None, default: str) -> tuple[str, str]:
    """The image of a job (or service) and the CI secret holding its registry credentials ('' for none)."""
    image = spec.get("image") or fallback or default
    if isinstance(image, dict):
        return str(image.get("name") or default), str(image.get("credentials") or "")
    return str(image), str(spec.get("credentials") or "")


class DockerExecutor(Executor):
    kind = "docker"

    def __init__(self, context: JobContext):
        super().__init__(context)
        config = context.config
        self.settings = settings_from(config)
        default = config["CICD_DEFAULT_IMAGE"]
        self.image, self.credentials_name = image_of(context.spec, context.image, default)
        self.services: list[tuple[Service, str]] = []
        self.job: JobContainer | None = None
        self.client = None
        self.image_path = DEFAULT_PATH
        self._lines: list[DockerLine] = []
        self._disk_checked, self._disk_full = 0.0, False

    def describe(self) -> str:
        return f"docker executor: image {self.image} on {self.settings.host}"

    # -- before the checkout: the engine, the image, what an earlier attempt left ---------------

    def prepare(self) -> None:
        ctx = self.context
        try:
            self.client = connect(self.settings)
            firewall.ensure(self.settings, ctx.config)
            with engine_call("removing what earlier attempts left"):
                removed = remove_attempts(self.client, ctx.job_id)
            if removed:
                self.note(f"Removed {removed} container(s) left by an earlier attempt of this job")
            credentials = self._credentials(self.credentials_name, pulls.parse_reference(self.image).registry)
            resolved = self._resolve(self.image, credentials, self.credentials_name)
            self.image = resolved.reference
            self.note(f"Image {resolved.reference} ({resolved.digest})")
            _record(ctx.job_id, image=resolved.reference[:255], image_digest=resolved.digest[:100])
            for index, item in enumerate(ctx.spec.get("services") or []):
                self.services.append(self._service(index, item))
        except (JobError, EngineError) as exc:
            raise ExecutorError(str(exc)) from exc

    def _resolve(self, image: str, credentials: dict | None, credentials_name: str) -> pulls.Resolved:
        allowed = tuple(self.context.config.get("CICD_REGISTRY_ALLOWED_HOSTS") or ())
        return pulls.resolve(self.client, image, credentials=credentials, credentials_name=credentials_name,
                             allowed_hosts=allowed)

    def _credentials(self, name: str, registry: str) -> dict | None:
        if not name:
            return None
        from ..services.secrets import secret_values

        job = db.session.get(Job, self.context.job_id)
        pipeline = job.pipeline
        values, missing, withheld = secret_values(self.context.tenant_id, pipeline.repository, [name],
                                                  protected=pipeline.protected)
        if missing:
            raise JobError(f"the registry credentials secret {name} is not set for this tenant or repository")
        if withheld:
            raise JobError(f"the registry credentials secret {name} is protected and this pipeline "
                           f"({pipeline.ref}) is not one of a protected branch")
        return pulls.credentials_from(name, values[name], registry)

    def _service(self, index: int, item: dict) -> tuple[Service, str]:
        image, credentials_name = image_of(item, None, "")
        if not image:
            raise JobError(f"service {index + 1} names no image")
        ref = pulls.parse_reference(image)
        credentials = self._credentials(credentials_name, ref.registry)
        resolved = self._resolve(image, credentials, credentials_name)
        alias = item.get("alias") or default_alias(image)
        service = Service(
            image=resolved.reference,
            alias=alias,
            env={str(k): str(v) for k, v in (item.get("env") or {}).items()},
            command=tuple(item["command"]) if item.get("command") else None,
            entrypoint=tuple(item["entrypoint"]) if item.get("entrypoint") else None,
        )
        self.note(f"Service {alias}: {resolved.reference} ({resolved.digest})")
        return service, resolved.reference

    def note(self, text: str) -> None:
        self.log(text)

    # -- after the checkout: the network, the services, the job's container ---------------------

    def setup(self, env: dict[str, str]) -> dict[str, str]:
        ctx = self.context
        config = ctx.config
        limits = Limits(
            cpus=float(config.get("CICD_CPUS") or 2),
            memory_mb=ctx.limits.memory_bytes // (1024 * 1024),
            pids=ctx.limits.pids or int(config.get("CICD_PIDS") or 1024),
            cpu_seconds=ctx.limits.cpu_seconds,
        )
        self.job = JobContainer(self.client, Owner(ctx.tenant_id, ctx.job_id, ctx.attempt), limits=limits,
                                hostname=_hostname(ctx.name))
        timeout = int(ctx.spec.get("timeout") or 1800)
        try:
            with engine_call("creating the job's network"):
                self.job.create_network()
            # Before anything of the job runs on it: its bridge's rules under the host's guard.
            firewall.first_in_forward(self.settings, config)
            for service, image in self.services:
                with engine_call(f"starting the service {service.alias}"):
                    self.job.start_service(service, image)
            with engine_call("creating the job's container"):
                # Bounded even if nobody is left to remove it: a worker that died mid-job.
                self.job.create_job_container(self.image, lifetime=timeout + 300)
                self.job.copy_in(ctx.workspace)
                self.job.start()
                image_env = self.client.images.get(self.image).attrs.get("Config", {}).get("Env") or []
            self._check_services()
        except EngineError as exc:
            raise ExecutorError(str(exc)) from exc
        path = next((item[5:] for item in image_env if item.startswith("PATH=")), DEFAULT_PATH)
        extra = {"HOME": "/home/taiji", "PATH": path}
        for item in image_env:
            name, _, value = item.partition("=")
            if name == "VIRTUAL_ENV":
                extra[name] = value
        return extra

    def _check_services(self) -> None:
        """A service that exited at once (a bad command, a missing variable) is the job's error."""
        if not self.job.services:
            return
        time.sleep(0.2)
        for container, (service, _image) in zip(self.job.services, self.services, strict=True):
            container.reload()
            state = container.attrs.get("State") or {}
            if not state.get("Running"):
                raise ExecutorError(
                    f"the service {service.alias} ({service.image}) stopped right after it started "
                    f"(exit status {state.get('ExitCode')}): {_tail(container)}"
                )

    # -- the lines ---------------------------------------------------------------------------

    def spawn(self, line: str, env: dict[str, str]) -> LineProcess:
        try:
            exec_id, chunks = self.job.exec_stream(line, env)
        except docker.errors.APIError as exc:
            raise ExecutorError(self._gone(exc)) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise ExecutorError(f"the Docker engine does not answer: {exc}") from exc
        proc = DockerLine(self.job, exec_id, chunks)
        self._lines.append(proc)
        return proc

    def _gone(self, exc: docker.errors.APIError) -> str:
        """Why a line could not start: usually the container died (out of memory, its lifetime)."""
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            self.job.container.reload()
            state = self.job.container.attrs.get("State") or {}
            if not state.get("Running"):
                why = f"exit status {state.get('ExitCode')}"
                if state.get("OOMKilled"):
                    why = "it ran out of memory"
                return f"the job's container stopped ({why})"
        return f"the Docker engine refused to run the line: {exc.explanation or exc}"

    def disk_full(self, final: bool = False) -> bool:
        """The container's own layer (the checkout, /tmp, the home, installs) against the job's disk
        limit: the engine cannot cap it on every storage driver, so it is measured (cheap on
        overlay2: the engine sums the layer's files) every DISK_SECONDS, and after every line."""
        limit = self.context.limits.disk_bytes
        if not limit or self.job is None or self.job.container is None:
            return False
        now = time.monotonic()
        if not final and now - self._disk_checked < DISK_SECONDS:
            return self._disk_full
        self._disk_checked = now
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            self._disk_full = self.job.disk_used() > limit
        return self._disk_full

    def gather(self) -> None:
        """Bring back the files the lifecycle will collect (artifacts, JUnit reports)."""
        if self.job is None or self.job.container is None:
            return
        spec = self.context.spec
        patterns = list((spec.get("artifacts") or {}).get("paths") or []) + list(spec.get("junit") or [])
        if not patterns:
            return
        limit = self.context.limits.disk_bytes or 1024 * 1024 * 1024
        # What the lifecycle collects is what the job left in its container, into an empty folder:
        # the worker's checkout (and any link its repository holds) plays no part.
        workspace = self.context.workspace
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.mkdir()
        try:
            with engine_call("copying the job's files back"):
                self.job.copy_out(_selector(patterns), workspace, max_bytes=limit)
        except (EngineError, JobError) as exc:
            raise ExecutorError(str(exc)) from exc

    def stop(self, grace: float) -> None:
        if self.job is None or self.job.container is None:
            return
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            if grace > 0:
                self.job.signal_all("TERM")
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and any(line.poll() is None for line in self._lines):
                    time.sleep(0.1)
            self.job.kill()

    def teardown(self) -> None:
        for line in self._lines:
            line.close()
        if self.job is not None:
            with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
                self.job.remove()

    @classmethod
    def cleanup_lost(cls, config: Mapping, root: Path) -> None:
        """A lost attempt's folder is ``<job>-<attempt>``: remove that attempt's containers."""
        job_id, _, attempt = root.name.partition("-")
        settings = settings_from(config)
        if settings is None or not job_id.isdigit() or not attempt.isdigit():
            return
        try:
            remove_attempts(connect(settings), int(job_id), attempt=int(attempt))
        except (EngineError, docker.errors.DockerException, requests.exceptions.RequestException):
            # The engine is away: the retry's own start removes the attempt's containers.
            log.warning("could not remove a lost attempt's containers", extra={"job": job_id})


def _record(job_id: int, **values) -> None:
    """Write where the job runs onto its row (the job page shows it), as its own short unit of work."""

    def write() -> None:
        db.session.commit()
        db.session.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    retrying(write)


def _selector(patterns: list[str]):
    """Whether a workspace path is one the lifecycle may collect: it matches a pattern, or lies in a
    folder a pattern names (the lifecycle applies its own rules again to what comes back)."""
    matchers = [glob_regex(p.rstrip("/") or ".") for p in patterns]

    def selected(rel: str) -> bool:
        parts = rel.split("/")
        return any(m.match("/".join(parts[:i])) for m in matchers for i in range(1, len(parts) + 1))

    return selected


def _hostname(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return cleaned[:63] or "job"


def _tail(container) -> str:
    with contextlib.suppress(docker.errors.DockerException):
        text = container.logs(tail=5).decode(errors="replace").strip()
        return text[-500:] or "(no output)"
    return "(no output)"


class DockerLine(LineProcess):
    """One line as an ``exec``: its output pumped through a pipe, so that the lifecycle can select."""

    def __init__(self, job: JobContainer, exec_id: str, chunks: Iterator[bytes]):
        self.job = job
        self.exec_id = exec_id
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._exit: int | None = None
        self._inspected = 0.0
        self._pumping = threading.Thread(target=self._pump, args=(chunks,), daemon=True,
                                         name=f"taiji-exec-{exec_id[:12]}")
        self._pumping.start()

    def _pump(self, chunks: Iterator[bytes]) -> None:
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    written = os.write(self._write_fd, view)
                    view = view[written:]
        except (OSError, docker.errors.DockerException, requests.exceptions.RequestException, ValueError):
            pass  # the reader is gone (finish) or the container with the stream
        finally:
            with contextlib.suppress(OSError):
                os.close(self._write_fd)

    def fileno(self) -> int:
        return self._read_fd

    def poll(self) -> int | None:
        if self._exit is not None:
            return self._exit
        now = time.monotonic()
        # While the output is open, ask the engine now and then: a background process of the line
        # may hold the output long after the line itself exited.
        if self._pumping.is_alive() and now - self._inspected < INSPECT_SECONDS:
            return None
        self._inspected = now
        try:
            state = self.job.client.api.exec_inspect(self.exec_id)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return None if self._pumping.is_alive() else -1
        if state.get("Running"):
            return None
        self._exit = state.get("ExitCode")
        if self._exit is None:
            self._exit = -1
        return self._exit

    def kill(self, grace: float) -> None:
        with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
            self.job.signal_all("TERM")
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and self.poll() is None:
                time.sleep(0.1)
            if self.poll() is None:
                self.job.signal_all("KILL")

    def finish(self) -> int | None:
        self._pumping.join(timeout=1.0)
        self.close()
        code = self.poll()
        deadline = time.monotonic() + 2
        while code is None and time.monotonic() < deadline:
            time.sleep(0.1)
            code = self.poll()
        return code

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._read_fd)
        self._read_fd = -1


register_executor(DockerExecutor, available)
