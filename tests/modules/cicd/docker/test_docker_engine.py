"""The engine connection (a unix socket, or TCP with TLS client certificates) and `taiji images`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests.exceptions

from tests.conftest import ROOT
from tests.dockerd import can_start_dockerd, free_port, make_tls_files, start_dockerd
from tests.registry import tiny_rootfs

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory):
    """A second dockerd that listens on loopback TCP and accepts only clients with a certificate of its CA."""
    reason = can_start_dockerd()
    if reason:
        pytest.skip(reason)
    tls = make_tls_files(tmp_path_factory.mktemp("engine-tls"))
    port = free_port()
    daemon = start_dockerd(tls=tls, tcp_port=port)
    try:
        yield {"host": f"tcp://127.0.0.1:{port}", **tls}
    finally:
        daemon.stop()


def test_a_tcp_engine_is_used_only_with_tls_client_certificates(tls_engine):
    import docker
    import docker.tls

    from taiji.modules.cicd.docker.engine import connect, describe, parse

    settings = parse(tls_engine["host"], tls_engine["ca"], tls_engine["cert"], tls_engine["key"])
    assert describe(connect(settings, fresh=True)).startswith("Docker 20.10")
    # The engine refuses a client without a certificate of its CA.
    url = tls_engine["host"].replace("tcp://", "https://")
    anonymous = docker.DockerClient(base_url=url, version="1.41", timeout=10,
                                    tls=docker.tls.TLSConfig(ca_cert=tls_engine["ca"], verify=True))
    anonymous.api.trust_env = False  # verify the engine against its CA, not the system's bundle
    with pytest.raises(requests.exceptions.SSLError, match=r"BAD_CERTIFICATE|CERTIFICATE_REQUIRED"):
        anonymous.ping()
    # And Taiji refuses to talk to a TCP engine without certificates at all.
    with pytest.raises(ValueError, match="TAIJI_DOCKER_TLS_CA, TAIJI_DOCKER_TLS_CERT, TAIJI_DOCKER_TLS_KEY"):
        parse(tls_engine["host"])
    with pytest.raises(ValueError, match="unix:///absolute/path"):
        parse("unix://relative.sock")


@pytest.fixture
def remote_engine(docker_app, tls_engine):
    """The CI app pointed at the TLS engine, as an install whose engine is on another machine."""
    from taiji.modules.cicd.docker.engine import connect, parse

    client = connect(parse(tls_engine["host"], tls_engine["ca"], tls_engine["cert"], tls_engine["key"]),
                     fresh=True)
    client.api.import_image_from_data(tiny_rootfs(), repository="taiji/tiny", tag="1",
                                      changes=["LABEL org.taiji.image.key=tiny-test"])
    keys = ("DOCKER_HOST", "DOCKER_TLS_CA", "DOCKER_TLS_CERT", "DOCKER_TLS_KEY", "DOCKER_FIREWALL",
            "CICD_DEFAULT_IMAGE")
    saved = {key: docker_app.config.get(key) for key in keys}
    docker_app.config.update({"DOCKER_HOST": tls_engine["host"], "DOCKER_TLS_CA": tls_engine["ca"],
                              "DOCKER_TLS_CERT": tls_engine["cert"], "DOCKER_TLS_KEY": tls_engine["key"],
                              "CICD_DEFAULT_IMAGE": "taiji/tiny:1"})
    yield docker_app.config
    docker_app.config.update(saved)
    client.close()


def test_jobs_run_on_a_remote_engine_through_tls_with_files_copied_in_and_out(dci, remote_engine):
    repo = dci.repo({"input.txt": "from the checkout\n", ".taiji.yml": """
jobs:
  remote:
    script: [cat input.txt, "echo made remotely > out.txt"]
    artifacts: {paths: [out.txt]}
"""})
    # Taiji cannot put firewall rules on another machine's host: it says so rather than run unguarded.
    state = dci.drive(dci.run(repo), timeout=60)
    job = state["jobs"]["remote"]
    log = dci.log(job["id"])
    assert (job["status"], job["reason"]) == ("failed", "system"), log
    assert "is remote: install them on its host" in log and "TAIJI_DOCKER_FIREWALL=external" in log

    remote_engine["DOCKER_FIREWALL"] = "external"  # the operator installed the rules there
    state = dci.drive(dci.run(repo), timeout=60)
    job = state["jobs"]["remote"]
    log = dci.log(job["id"])
    assert job["status"] == "success", log
    assert "from the checkout" in log
    assert [a[:2] for a in job["artifacts"]] == [("out.txt", len("made remotely\n"))]


def _taiji(*args, env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAIJI_")}
    clean.update({"TAIJI_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **env})
    return subprocess.run([sys.executable, "-m", "taiji.cli", *args], capture_output=True, text=True,
                          env=clean, cwd=ROOT, timeout=300, check=False)


def test_images_bootstrap_finds_the_image_it_made_and_lists_it(docker_host, job_image, tmp_path):
    engine = {"TAIJI_DOCKER_HOST": docker_host}
    done = _taiji("images", "bootstrap", env=engine, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{job_image} is already in the engine" in done.stdout
    listed = _taiji("images", "list", env=engine, tmp_path=tmp_path)
    assert listed.returncode == 0 and job_image in listed.stdout
    assert "python3-pytest" in listed.stdout


def test_images_bootstrap_refuses_bad_input_and_missing_engines_clearly(tmp_path):
    bad = _taiji("images", "bootstrap", "--include", "git;rm -rf /", env={"TAIJI_DOCKER_HOST": "unix:///x.sock"},
                 tmp_path=tmp_path)
    assert bad.returncode == 2 and "is not a Debian package name" in bad.stderr
    none = _taiji("images", "bootstrap", env={}, tmp_path=tmp_path)
    assert none.returncode == 1 and "no Docker engine is configured (TAIJI_DOCKER_HOST)" in none.stderr
    plain = _taiji("images", "list", env={"TAIJI_DOCKER_HOST": "tcp://127.0.0.1:2375"}, tmp_path=tmp_path)
    assert plain.returncode == 1 and "without TLS client certificates" in plain.stderr
    assert "Traceback" not in bad.stderr + none.stderr + plain.stderr


def test_a_ca_bundle_in_the_environment_does_not_replace_the_engines_ca(tmp_path, monkeypatch):
    """A worker whose environment names a CA bundle (REQUESTS_CA_BUNDLE, as many hosts set) must still
    accept only the engine's own CA: else a server with any certificate of that bundle passes for it."""
    import http.server
    import json
    import ssl
    import threading

    from taiji.modules.cicd.docker.engine import EngineError, connect, describe, parse

    (tmp_path / "engine").mkdir()
    (tmp_path / "rogue").mkdir()
    engine_tls, rogue = make_tls_files(tmp_path / "engine"), make_tls_files(tmp_path / "rogue")

    class FakeEngine(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"Version": "rogue", "ApiVersion": "1.41"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), FakeEngine)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(rogue["server_cert"], rogue["server_key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", rogue["ca"])
    monkeypatch.setenv("CURL_CA_BUNDLE", rogue["ca"])
    try:
        settings = parse(f"tcp://127.0.0.1:{server.server_address[1]}", engine_tls["ca"], engine_tls["cert"],
                         engine_tls["key"])
        with pytest.raises((EngineError, requests.exceptions.SSLError)):
            describe(connect(settings, fresh=True))
    finally:
        server.shutdown()
