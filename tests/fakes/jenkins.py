"""A small Jenkins controller that speaks the remote API as python-jenkins uses it, on loopback.

Jenkins cannot be installed on these machines, so Taiji's Jenkins runner is tested against this:
a real HTTP server (werkzeug, in a thread) with what the runner relies on, as Jenkins does it —

- HTTP Basic with a user's API token (a wrong token is 401; no credentials, 403);
- the crumb issuer (``/crumbIssuer/api/json``): every POST must carry the crumb *and* the session
  cookie the crumb was issued with, else 403;
- ``createItem?name=`` and ``job/X/config.xml`` (GET and POST) with a pipeline job's config.xml;
  the Jenkinsfile in it is parsed (``timeout``, ``environment``, the ``sh`` steps, ``junit``,
  ``archiveArtifacts``);
- ``job/X/build`` and ``buildWithParameters`` answering 201 with a queue ``Location``;
  ``queue/item/N/api/json`` (first waiting with a ``why``, then with ``executable``),
  ``queue/cancelItem``;
- ``job/X/N/api/json`` (building, result, duration, artifacts), ``logText/progressiveText`` with
  ``start``, ``X-Text-Size`` and ``X-More-Data``, ``stop``, ``testReport/api/json``, ``artifact/``.

A build "runs" by executing the ``sh`` steps of its Jenkinsfile in a temporary folder, each a
subprocess with the build's parameters and environment, its output streamed into the console log
(this is test infrastructure running scripts the tests wrote). Tests can hold the queue, take the
server down, and read every request it received.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

VERSION = "2.440.3"
WHY_WAITING = "Waiting for next available executor"


def unescape_groovy(body: str) -> str:
    """The text of a single-quoted Groovy string literal's body."""
    out, i = [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "b": "\b", "\\": "\\", "'": "'", '"': '"', "$": "$"}
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(simple.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


_LITERAL = r"'((?:[^'\\\n]|\\.)*)'"


@dataclass
class Definition:
    """What the fake understood of a Jenkinsfile."""

    steps: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    timeout: int | None = None
    junit: str | None = None
    artifacts: str | None = None


def parse_jenkinsfile(script: str) -> Definition:
    """Only single-quoted literals are understood, as Taiji writes them; anything outside one that
    looks like Groovy code running is the test's business to assert on."""
    found = Definition()
    timeout = re.search(r"timeout\(time:\s*(\d+),\s*unit:\s*'SECONDS'\)", script)
    found.timeout = int(timeout.group(1)) if timeout else None
    env_block = re.search(r"\n  environment \{\n(.*?)\n  \}", script, re.S)
    if env_block:
        for name, value in re.findall(
            r"^\s*([A-Za-z_][A-Za-z0-9_]*) = " + _LITERAL + r"$", env_block.group(1), re.M
        ):
            found.env[name] = unescape_groovy(value)
    found.steps = [unescape_groovy(m) for m in re.findall(r"^\s*sh " + _LITERAL + r"$", script, re.M)]
    junit = re.search(r"junit\(testResults: " + _LITERAL, script)
    found.junit = unescape_groovy(junit.group(1)) if junit else None
    artifacts = re.search(r"archiveArtifacts\(artifacts: " + _LITERAL, script)
    found.artifacts = unescape_groovy(artifacts.group(1)) if artifacts else None
    return found


@dataclass
class Build:
    number: int
    job: FakeJob
    parameters: dict[str, str]
    log: bytearray = field(default_factory=bytearray)
    building: bool = True
    result: str | None = None
    started: float = field(default_factory=time.time)
    duration_ms: int = 0
    artifacts: dict[str, bytes] = field(default_factory=dict)
    report: dict | None = None
    stop_requested: bool = False
    process: subprocess.Popen | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, text: str | bytes) -> None:
        with self.lock:
            self.log += text.encode() if isinstance(text, str) else text


@dataclass
class QueueItem:
    id: int
    job: FakeJob
    parameters: dict[str, str]
    created: float = field(default_factory=time.time)
    build: Build | None = None
    cancelled: bool = False


@dataclass
class FakeJob:
    name: str
    config: str = ""
    steps: list[str] | None = None  # a job made by a test (not from a config.xml)
    builds: list[Build] = field(default_factory=list)
    next_number: int = 1

    def definition(self) -> Definition:
        if self.steps is not None:
            return Definition(steps=list(self.steps))
        script = ET.fromstring(self.config).find("./definition/script")  # noqa: S314 - the test's own XML
        return parse_jenkinsfile(script.text if script is not None else "")


class FakeJenkins:
    """``with FakeJenkins(users={"taiji": "token"}) as fake: fake.url ...``"""

    def __init__(self, users: dict[str, str] | None = None, *, queue_delay: float = 0.2):
        self.users = users if users is not None else {"taiji": "api-token-1"}
        self.queue_delay = queue_delay
        self.hold_queue = False
        # Extra artifacts every build reports (path -> bytes): a controller that names odd paths.
        self.extra_artifacts: dict[str, bytes] = {}
        # Links the controller gives for its builds (None: its own URL).
        self.build_url: str | None = None
        # A result every build ends with, whatever its steps did (NOT_BUILT, ...): scripted states.
        self.force_result: str | None = None
        # Seconds every request waits before it is answered: a controller that hangs (until the
        # server goes down, which drops what hangs).
        self.hang: float = 0
        self._going_down = threading.Event()
        self.jobs: dict[str, FakeJob] = {}
        self.queue: dict[int, QueueItem] = {}
        self.requests: list[dict] = []
        self.sessions: dict[str, str] = {}  # session cookie -> crumb
        self.next_queue_id = 100
        self.lock = threading.RLock()
        self._server = None
        self._thread = None
        self._root = Path(tempfile.mkdtemp(prefix="fake-jenkins-"))

    # -- life -------------------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> FakeJenkins:
        self._server = make_server(host, port, self._wsgi, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._going_down.clear()
        # A short poll interval: shutting the server down (every test's end) waits for one.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop answering (the port is closed; builds keep their state for a later ``start``)."""
        if self._server is not None:
            # Closing the server waits for the requests it is answering: those that hang end now.
            self._going_down.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        self.down()
        for job in self.jobs.values():
            for build in job.builds:
                self._kill(build)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> FakeJenkins:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests set up and read ---------------------------------------------------------------

    def add_job(self, name: str, steps: list[str]) -> FakeJob:
        """An existing job of the controller (as if someone configured it there)."""
        job = FakeJob(name=name, steps=list(steps))
        self.jobs[name] = job
        return job

    def build_of(self, name: str, number: int | None = None) -> Build:
        job = self.jobs[name]
        return job.builds[-1] if number is None else next(b for b in job.builds if b.number == number)

    def generated(self) -> list[FakeJob]:
        return [job for job in self.jobs.values() if job.steps is None]

    def workspace(self, build: Build) -> Path:
        """The folder a build's steps run in: a test may leave a file there that a step waits for."""
        return self._root / f"{build.job.name}-{build.number}"

    # -- the HTTP side ----------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string.decode(),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if self.hang:
            self._going_down.wait(self.hang)
        try:
            response = self._route(request, body)
        except _Answer as answer:
            response = answer.response
        response.headers.setdefault("X-Jenkins", VERSION)
        return response(environ, start_response)

    def _user(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            raise _Answer(Response("Authentication required", 403))
        try:
            user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            raise _Answer(Response("bad header", 401)) from None
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(expected, token):
            raise _Answer(
                Response(
                    "Invalid password/token for user: " + user,
                    401,
                    {"WWW-Authenticate": 'Basic realm="Jenkins"'},
                )
            )
        return user

    def _check_crumb(self, request: Request) -> None:
        session = request.cookies.get("JSESSIONID.fake")
        crumb = self.sessions.get(session or "")
        if not crumb or request.headers.get("Jenkins-Crumb") != crumb:
            raise _Answer(Response("No valid crumb was included in the request", 403))

    def _route(self, request: Request, body: bytes) -> Response:
        user = self._user(request)
        path = request.path
        if request.method == "POST":
            self._check_crumb(request)
        if path == "/crumbIssuer/api/json":
            session = request.cookies.get("JSESSIONID.fake")
            if session not in self.sessions:
                session = secrets.token_hex(8)
                self.sessions[session] = secrets.token_hex(16)
            response = _json(
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": self.sessions[session],
                    "crumbRequestField": "Jenkins-Crumb",
                }
            )
            response.set_cookie("JSESSIONID.fake", session, httponly=True)
            return response
        if path in ("/api/json", "/"):
            return _json(
                {
                    "_class": "hudson.model.Hudson",
                    "mode": "NORMAL",
                    "nodeDescription": "fake",
                    "jobs": [self._job_summary(job) for job in self.jobs.values()],
                }
            )
        if path == "/me/api/json":
            return _json({"_class": "hudson.model.User", "id": user, "fullName": user.title()})
        if path == "/createItem" and request.method == "POST":
            return self._create(request.args.get("name", ""), body)
        if path == "/queue/cancelItem" and request.method == "POST":
            item = self.queue.get(int(request.args.get("id", "0")))
            if item is None:
                return Response("no such item", 404)
            with self.lock:
                if item.build is None:
                    item.cancelled = True
            return Response("", 204)
        queue = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
        if queue:
            return self._queue_item(int(queue.group(1)))
        return self._job_route(request, body)

    def _job_route(self, request: Request, body: bytes) -> Response:
        match = re.fullmatch(r"((?:/job/[^/]+)+)(/.*)?", request.path)
        if not match:
            return Response("Not found", 404)
        name = "/".join(unquote(part) for part in match.group(1).split("/job/")[1:])
        rest = match.group(2) or "/"
        job = self.jobs.get(name)
        if job is None:
            return Response("Not found", 404)
        if rest == "/config.xml":
            if request.method == "POST":
                job.config = body.decode()
                job.steps = None
                return Response("")
            return Response(job.config, mimetype="application/xml")
        if rest == "/api/json":
            return _json(
                {
                    "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                    "name": name.split("/")[-1],
                    "fullName": name,
                    **self._job_summary(job),
                }
            )
        if rest in ("/build", "/buildWithParameters") and request.method == "POST":
            parameters = {k: v for k, v in request.form.items()}
            parameters.update({k: v for k, v in request.args.items() if k != "delay"})
            return self._enqueue(job, parameters)
        build_route = re.fullmatch(r"/(\d+)(/.*)?", rest)
        if not build_route:
            return Response("Not found", 404)
        build = next((b for b in job.builds if b.number == int(build_route.group(1))), None)
        if build is None:
            return Response("Not found", 404)
        return self._build_route(request, job, build, build_route.group(2) or "/")

    def _build_route(self, request: Request, job: FakeJob, build: Build, rest: str) -> Response:
        if rest == "/api/json":
            return _json(self._build_json(job, build))
        if rest == "/logText/progressiveText":
            start = int(request.args.get("start", "0") or 0)
            with build.lock:
                data, size, more = bytes(build.log[start:]), len(build.log), build.building
            headers = {"X-Text-Size": str(size)}
            if more:
                headers["X-More-Data"] = "true"
            return Response(data, mimetype="text/plain", headers=headers)
        if rest == "/stop" and request.method == "POST":
            build.stop_requested = True
            self._kill(build)
            return Response("", 302, {"Location": f"{self.url}/job/{job.name}/{build.number}/"})
        if rest == "/":
            return Response("<html>build page</html>", mimetype="text/html")
        if rest == "/testReport/api/json":
            return _json(build.report) if build.report else Response("Not found", 404)
        if rest.startswith("/artifact/"):
            data = build.artifacts.get(unquote(rest[len("/artifact/") :]))
            return (
                Response(data, mimetype="application/octet-stream") if data is not None else Response("", 404)
            )
        return Response("Not found", 404)

    # -- jobs, queue, builds ----------------------------------------------------------------------

    def _create(self, name: str, body: bytes) -> Response:
        if not name or name in self.jobs:
            return Response(f"A job already exists with the name '{name}'", 400)
        try:
            ET.fromstring(body)  # noqa: S314 - the tests' controller parses what Taiji sent
        except ET.ParseError:
            return Response("Failed to parse config.xml", 500)
        self.jobs[name] = FakeJob(name=name, config=body.decode())
        return Response("")

    def _job_summary(self, job: FakeJob) -> dict:
        last = job.builds[-1] if job.builds else None
        color = (
            "notbuilt"
            if last is None
            else {"SUCCESS": "blue", "FAILURE": "red", "UNSTABLE": "yellow", "ABORTED": "aborted"}.get(
                last.result or "", "blue_anime"
            )
        )
        return {
            "name": job.name,
            "url": f"{self.url}/job/{job.name}/",
            "color": color,
            "lastBuild": self._build_json(job, last) if last else None,
        }

    def _build_json(self, job: FakeJob, build: Build) -> dict:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": build.number,
            "url": f"{self.url}/job/{job.name}/{build.number}/",
            "building": build.building,
            "result": build.result,
            "duration": build.duration_ms,
            "timestamp": int(build.started * 1000),
            "artifacts": [{"fileName": p.rsplit("/", 1)[-1], "relativePath": p} for p in build.artifacts],
        }

    def _enqueue(self, job: FakeJob, parameters: dict) -> Response:
        with self.lock:
            item = QueueItem(id=self.next_queue_id, job=job, parameters=parameters)
            self.next_queue_id += 1
            self.queue[item.id] = item
        threading.Thread(target=self._wait_and_run, args=(item,), daemon=True).start()
        return Response("", 201, {"Location": f"{self.url}/queue/item/{item.id}/"})

    def _queue_item(self, queue_id: int) -> Response:
        item = self.queue.get(queue_id)
        if item is None:
            return Response("Not found", 404)
        answer = {
            "_class": "hudson.model.Queue$WaitingItem",
            "id": item.id,
            "task": {"name": item.job.name},
            "inQueueSince": int(item.created * 1000),
        }
        if item.cancelled:
            answer.update({"_class": "hudson.model.Queue$LeftItem", "cancelled": True})
        elif item.build is None:
            answer.update({"why": WHY_WAITING, "blocked": False, "buildable": True})
        else:
            answer.update(
                {
                    "_class": "hudson.model.Queue$LeftItem",
                    "cancelled": False,
                    "why": None,
                    "executable": {
                        "number": item.build.number,
                        "url": self.build_url or f"{self.url}/job/{item.job.name}/{item.build.number}/",
                    },
                }
            )
        return _json(answer)

    def _wait_and_run(self, item: QueueItem) -> None:
        deadline = time.time() + self.queue_delay
        while time.time() < deadline or self.hold_queue:
            if item.cancelled:
                return
            time.sleep(0.05)
        with self.lock:
            if item.cancelled:
                return
            build = Build(number=item.job.next_number, job=item.job, parameters=item.parameters)
            item.job.next_number += 1
            item.job.builds.append(build)
            item.build = build
        self._run(build)

    def _run(self, build: Build) -> None:
        definition = build.job.definition()
        workspace = self.workspace(build)
        workspace.mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workspace),
            "LANG": "C.UTF-8",
            "WORKSPACE": str(workspace),
            "BUILD_NUMBER": str(build.number),
            "JOB_NAME": build.job.name,
        }
        env.update(definition.env)
        env.update(build.parameters)
        build.write("Started by user taiji\n[Pipeline] Start of Pipeline\n")
        deadline = time.time() + definition.timeout if definition.timeout else None
        result = "SUCCESS"
        for step in definition.steps:
            build.write("[Pipeline] sh\n")
            code = self._sh(build, step, workspace, env, deadline)
            if build.stop_requested:
                result = "ABORTED"
                build.write("Aborted by taiji\n")
                break
            if deadline and time.time() >= deadline:
                result = "ABORTED"
                build.write("Timeout has been exceeded\n")
                break
            if code != 0:
                result = "FAILURE"
                build.write(f"ERROR: script returned exit code {code}\n")
                break
        if definition.junit and not build.stop_requested:
            build.report = _junit_report(workspace, definition.junit)
            if build.report and build.report["failCount"] and result == "SUCCESS":
                result = "UNSTABLE"
        if definition.artifacts and result == "SUCCESS":
            for path in ant_files(workspace, definition.artifacts):
                build.artifacts[path.relative_to(workspace).as_posix()] = path.read_bytes()
        if self.force_result:
            result = self.force_result
        if result == "SUCCESS":
            build.artifacts.update(self.extra_artifacts)
        build.write(f"[Pipeline] End of Pipeline\nFinished: {result}\n")
        build.duration_ms = int((time.time() - build.started) * 1000)
        build.result = result
        build.building = False

    def _sh(self, build: Build, step: str, workspace: Path, env: dict, deadline: float | None) -> int:
        process = subprocess.Popen(
            ["/bin/sh", "-xe", "-c", step],
            cwd=workspace,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        build.process = process
        os.set_blocking(process.stdout.fileno(), False)
        while True:
            chunk = None
            with contextlib.suppress(BlockingIOError):
                chunk = process.stdout.read(65536)
            if chunk:
                build.write(chunk)
            elif process.poll() is not None:
                rest = process.stdout.read() or b""
                build.write(rest)
                break
            else:
                time.sleep(0.02)
            if deadline and time.time() >= deadline:
                self._kill(build)
        process.stdout.close()
        return process.wait()

    def _kill(self, build: Build) -> None:
        process = build.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # the tests read fake.requests instead
        pass


class _Answer(Exception):
    def __init__(self, response: Response):
        self.response = response


def _json(value) -> Response:
    return Response(json.dumps(value), mimetype="application/json")


def ant_files(workspace: Path, patterns: str) -> list[Path]:
    """Files of the workspace matching Ant patterns ("a/**/*.xml", "dist/" = everything under dist)."""
    regexes = []
    for pattern in patterns.split(","):
        pattern = pattern.strip()
        if pattern.endswith("/"):
            pattern += "**"
        out, i = [], 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            elif pattern.startswith("**", i):
                out.append(".*")
                i += 2
            elif pattern[i] == "*":
                out.append("[^/]*")
                i += 1
            elif pattern[i] == "?":
                out.append("[^/]")
                i += 1
            else:
                out.append(re.escape(pattern[i]))
                i += 1
        regexes.append(re.compile("".join(out) + r"\Z"))
    found = []
    for path in sorted(workspace.rglob("*")):
        rel = path.relative_to(workspace).as_posix()
        if path.is_file() and any(r.match(rel) for r in regexes):
            found.append(path)
    return found


def _junit_report(workspace: Path, patterns: str) -> dict | None:
    cases = []
    for path in ant_files(workspace, patterns):
        root = ET.parse(path).getroot()  # noqa: S314 - the test's own report
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for case in suite.findall("testcase"):
                failure = case.find("failure")
                if failure is None:
                    failure = case.find("error")
                status = (
                    "SKIPPED"
                    if case.find("skipped") is not None
                    else "FAILED"
                    if failure is not None
                    else "PASSED"
                )
                cases.append(
                    {
                        "className": case.get("classname"),
                        "name": case.get("name"),
                        "status": status,
                        "errorDetails": failure.get("message") if failure is not None else None,
                        "duration": float(case.get("time") or 0),
                    }
                )
    if not cases:
        return None
    return {
        "_class": "hudson.tasks.junit.TestResult",
        "duration": sum(c["duration"] for c in cases),
        "failCount": sum(c["status"] == "FAILED" for c in cases),
        "passCount": sum(c["status"] == "PASSED" for c in cases),
        "skipCount": sum(c["status"] == "SKIPPED" for c in cases),
        "suites": [{"name": "suite", "cases": cases}],
    }
