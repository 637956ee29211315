"""CICD's own TAIJI_* settings, declared here and read by the kernel at start (``Module(settings=...)``).

The built-in runner reads the CICD_* values (runners/builtin.py), the Docker runner the DOCKER_*
ones (docker/), the scheduler CICD_MAX_JOBS; each from ``current_app.config``.
"""

from __future__ import annotations

from taiji.platform.config import Setting, choice, csv, integer, number

SETTINGS = [
    Setting("TAIJI_CICD_JOB_PATH", "/usr/local/bin:/usr/bin:/bin",
            "PATH of pipeline jobs on the built-in runner (jobs see none of the worker's environment)."),
    Setting("TAIJI_CICD_JOB_PYTHON", "python3",
            "Python that makes each job a fresh virtual environment (`python`, `pip` on its PATH); "
            "empty for none.", empty_is_value=True),
    Setting("TAIJI_CICD_CPU_SECONDS", "3600", "CPU time limit of each job script line, seconds.",
            parse=integer(minimum=1)),
    Setting("TAIJI_CICD_MEMORY_MB", "4096", "Address-space limit of each job process, MiB (0: none).",
            parse=integer()),
    Setting("TAIJI_CICD_OUTPUT_LIMIT_MB", "100", "Log size at which a job is stopped (output_limit), MiB.",
            parse=integer(minimum=1)),
    Setting("TAIJI_CICD_HEARTBEAT_SECONDS", "3",
            "How often a running job reports it is alive and looks for a cancel.", parse=integer(minimum=1)),
    Setting("TAIJI_CICD_RUNNER_LOST_SECONDS", "60",
            "A running job silent this long is runner_lost and retried once.", parse=integer(minimum=2)),
    Setting("TAIJI_CICD_KILL_GRACE_SECONDS", "5",
            "Between SIGTERM and SIGKILL when a job is canceled or times out, seconds.", parse=integer()),
    Setting("TAIJI_CICD_JENKINS_ALLOWED_HOSTS", "",
            "Comma-separated hosts or CIDR ranges a tenant's Jenkins controllers may be at although they "
            "are loopback, link-local or otherwise reserved (refused by default; public and private "
            "ranges are allowed).", parse=csv),
    Setting("TAIJI_CICD_MAX_JOBS", "8",
            "Pipeline jobs running at once on the whole platform, all tenants together; free slots go "
            "to the tenant with the fewest running. Keep it below the job slots of the `taiji runner` "
            "processes (each has TAIJI_CICD_MAX_JOBS + 2 unless -c says otherwise).",
            parse=integer(minimum=1)),
    Setting("TAIJI_CICD_RUNNER", "auto",
            "Where jobs run unless their file says otherwise: auto (docker when TAIJI_DOCKER_HOST is set, "
            "else sandbox), sandbox, docker, or host (NOT isolated: single-user installs only; only this "
            "setting enables it). See docs/runners.md.", parse=choice("auto", "sandbox", "docker", "host")),
    Setting("TAIJI_CICD_DISK_MB", "2048",
            "Disk a job may use for its checkout, Python environment, temporary files and artifacts, MiB; "
            "a job over it fails with disk_limit (0: none).", parse=integer()),
    Setting("TAIJI_CICD_SANDBOX_UID", "64000",
            "Unprivileged host user id the sandbox's jobs run as when the worker runs as root (its group "
            "id is the same number); ignored otherwise (jobs then run as the worker's user, in a user "
            "namespace).", parse=integer(minimum=1)),
    Setting("TAIJI_CICD_BLOCKED_NETWORKS", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10",
            "Comma-separated CIDR ranges CI jobs (sandbox and docker runners) cannot reach, besides the host "
            "itself, link-local addresses and the database and broker (always refused). Empty to allow "
            "private networks.", parse=csv, empty_is_value=True),
    Setting("TAIJI_DOCKER_HOST", "",
            "Docker engine for CI jobs: unix:///path/to/docker.sock, or tcp://host:port with TLS client "
            "certificates; no Docker runner when empty."),
    Setting("TAIJI_DOCKER_TLS_CA", "", "CA certificate (PEM file) that signed a tcp:// engine's one."),
    Setting("TAIJI_DOCKER_TLS_CERT", "", "Client certificate (PEM file) Taiji shows a tcp:// engine."),
    Setting("TAIJI_DOCKER_TLS_KEY", "", "Private key (PEM file) of TAIJI_DOCKER_TLS_CERT."),
    Setting("TAIJI_DOCKER_CERT_PATH", "",
            "Folder with ca.pem, cert.pem and key.pem, instead of the three TAIJI_DOCKER_TLS_* files."),
    Setting("TAIJI_DOCKER_FIREWALL", "auto",
            "auto: Taiji adds the iptables rules that keep job containers away from the engine's host "
            "(needs a unix:// engine and root); external: the operator installed them (docs/runners.md).",
            parse=choice("auto", "external")),
    Setting("TAIJI_CICD_DEFAULT_IMAGE", "taiji/python:bookworm",
            "Image of a Docker job that names none (`taiji images bootstrap` builds this one)."),
    Setting("TAIJI_CICD_REGISTRY_ALLOWED_HOSTS", "",
            "Comma-separated hosts or CIDR ranges job images may be pulled from although they are "
            "loopback, link-local or otherwise reserved (refused by default; public and private ranges "
            "are allowed).", parse=csv),
    Setting("TAIJI_CICD_CPUS", "2", "CPUs a Docker job's container may use (fractions allowed).",
            parse=number(minimum=0.01)),
    Setting("TAIJI_CICD_PIDS", "1024", "Processes and threads a Docker job's container may have at once.",
            parse=integer(minimum=16)),
]
