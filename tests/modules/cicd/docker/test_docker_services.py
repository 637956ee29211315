"""`services:` — containers beside the job, reachable by name on the job's own network."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.live

# A tiny key-value "database": answers GET / with the value of its GREETING variable.
SERVER = (
    "import http.server, os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = os.environ['GREETING'].encode()\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
    "http.server.HTTPServer(('', 6380), H).serve_forever()\n"
)

CLIENT = (
    "import sys, time, urllib.request\n"
    "for _ in range(100):\n"
    "    try:\n"
    "        print('answer:', urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()); break\n"
    "    except OSError as exc:\n"
    "        time.sleep(0.1)\n"
    "else:\n"
    "    sys.exit(f'no answer from {sys.argv[1]}')\n"
)


def test_a_job_reaches_its_service_containers_by_alias(dci, docker_client, job_image):
    import json

    repo = dci.repo({"client.py": CLIENT, ".taiji.yml": f"""
jobs:
  integration:
    services:
      - name: {job_image}
        alias: db
        env: {{GREETING: hello from the service}}
        command: [python3, -c, {json.dumps(SERVER)}]
      - {{name: {job_image}, alias: cache, command: "python3 -m http.server 8000"}}
    script:
      - python client.py http://db:6380/
      - python client.py http://cache:8000/ | head -c 60
"""})
    state = dci.drive(dci.run(repo), timeout=120)
    job = state["jobs"]["integration"]
    log = dci.log(job["id"])
    assert state["status"] == "success", log
    assert "answer: hello from the service" in log
    assert "answer: <!DOCTYPE" in log
    assert "Service db: taiji/python:bookworm" in log and "Service cache:" in log
    # The services went with the job.
    assert docker_client.containers.list(
        all=True, sparse=True, filters={"label": f"org.taiji.cicd.job={job['id']}"}) == []


def test_a_service_that_stops_at_once_fails_the_job_with_its_reason(dci, job_image):
    repo = dci.repo({".taiji.yml": f"""
jobs:
  integration:
    services:
      - {{name: {job_image}, alias: db, command: "sh -c 'echo no config given >&2; exit 3'"}}
    script: [echo never]
"""})
    state = dci.drive(dci.run(repo), timeout=120)
    job = state["jobs"]["integration"]
    log = dci.log(job["id"])
    assert (job["status"], job["reason"]) == ("failed", "system"), log
    assert "the service db" in log and "exit status 3" in log and "no config given" in log
    assert "$ echo never" not in log


# Serves its own capabilities (and who it runs as) to whoever asks.
WHOAMI = (
    "import http.server, os\n"
    "status = open('/proc/self/status').read()\n"
    "caps = ' '.join(line for line in status.splitlines() if line.startswith('Cap'))\n"
    "body = ('uid=%d %s' % (os.getuid(), caps)).encode()\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
    "http.server.HTTPServer(('', 7000), H).serve_forever()\n"
)


def test_a_service_may_run_as_root_but_without_raw_sockets_or_device_nodes(dci, job_image):
    import json

    repo = dci.repo({"client.py": CLIENT, ".taiji.yml": f"""
jobs:
  probe:
    services:
      - {{name: {job_image}, alias: rooted, entrypoint: [python3, -c, {json.dumps(WHOAMI)}]}}
    script: ["python client.py http://rooted:7000/"]
"""})
    state = dci.drive(dci.run(repo), timeout=120)
    log = dci.log(state["jobs"]["probe"]["id"])
    assert state["status"] == "success", log
    [line] = [line for line in log.splitlines() if line.startswith("answer: uid=")]
    assert line.startswith("answer: uid=0 ")  # root in the service's own container...
    effective = int(line.split("CapEff:")[1].split()[0], 16)
    names = {0: "CHOWN", 1: "DAC_OVERRIDE", 3: "FOWNER", 5: "KILL", 6: "SETGID", 7: "SETUID",
             10: "NET_BIND_SERVICE", 13: "NET_RAW", 18: "SYS_CHROOT", 27: "MKNOD", 29: "AUDIT_WRITE",
             31: "SETFCAP"}
    held = {name for bit, name in names.items() if effective >> bit & 1}
    # ... with what setting itself up takes, and nothing of Docker's other defaults.
    assert held == {"CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE"}, line
