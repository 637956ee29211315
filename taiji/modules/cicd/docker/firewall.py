"""Keep job containers away from the engine's host.

A container on a bridge network reaches the outside through the host, and with it every service
the host listens on: the bridge's gateway address, the host's own addresses, ports bound to
0.0.0.0 (a database, Redis, Taiji itself). Docker has no switch for "outside but not the host",
so each job network gets a bridge named ``taiji…`` and three rules on the host refuse what arrives
on such a bridge for the host itself, and the link-local range (cloud metadata services):

    iptables  -I INPUT       -i taiji+ -j REJECT
    ip6tables -I INPUT       -i taiji+ -j REJECT
    iptables  -I DOCKER-USER -i taiji+ -d 169.254.0.0/16 -j REJECT

Traffic to the outside is forwarded, not delivered to the host, so INPUT never sees it. Other
containers' networks are already cut off by Docker's own isolation chains.
With ``TAIJI_DOCKER_FIREWALL=auto`` Taiji installs the rules itself, which needs the engine on
this machine and root; with ``external`` the operator has put them on the engine's host.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

from .engine import EngineError, EngineSettings

BRIDGE_PREFIX = "taiji"
RECHECK_SECONDS = 60

RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("iptables", "INPUT", ("-i", f"{BRIDGE_PREFIX}+", "-j", "REJECT")),
    ("ip6tables", "INPUT", ("-i", f"{BRIDGE_PREFIX}+", "-j", "REJECT")),
    ("iptables", "DOCKER-USER", ("-i", f"{BRIDGE_PREFIX}+", "-d", "169.254.0.0/16", "-j", "REJECT")),
)

_checked_at = 0.0
_lock = threading.Lock()


def _iptables(tool: str, *args: str) -> subprocess.CompletedProcess:
    path = shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise EngineError(f"{tool} is not installed; job containers cannot be kept away from this host")
    return subprocess.run([path, "-w", "10", *args], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603


def _chain_exists(tool: str, chain: str) -> bool:
    return _iptables(tool, "-n", "-L", chain).returncode == 0


def ensure(settings: EngineSettings, mode: str) -> None:
    """Make sure the rules are in place before a job container starts (at most once a minute)."""
    global _checked_at
    if mode == "external":
        return
    if not settings.local:
        raise EngineError(
            f"TAIJI_DOCKER_FIREWALL=auto installs the host rules on this machine, but the engine "
            f"{settings.host} is remote: install them on its host (docs/runners.md) and set "
            "TAIJI_DOCKER_FIREWALL=external"
        )
    with _lock:
        if time.monotonic() - _checked_at < RECHECK_SECONDS:
            return
        for tool, chain, rule in RULES:
            if tool == "ip6tables" and shutil.which(tool, path="/usr/sbin:/sbin") is None:
                continue  # no IPv6 firewall, no IPv6 either: job containers get none (sysctl)
            if chain != "INPUT" and not _chain_exists(tool, chain):
                # Without DOCKER-USER the engine manages no iptables, hence no NAT: jobs have no
                # outside to reach and nothing to guard there.
                continue
            if _iptables(tool, "-C", chain, *rule).returncode == 0:
                continue
            done = _iptables(tool, "-I", chain, "1", *rule)
            if done.returncode != 0:
                raise EngineError(
                    f"could not keep job containers away from this host ({tool} -I {chain} "
                    f"{' '.join(rule)}): {done.stderr.strip()}. Run the worker as root, or install the "
                    "rules yourself and set TAIJI_DOCKER_FIREWALL=external"
                )
        _checked_at = time.monotonic()


def forget() -> None:
    """Check again at the next job (tests that remove the rules to prove they matter)."""
    global _checked_at
    with _lock:
        _checked_at = 0.0
