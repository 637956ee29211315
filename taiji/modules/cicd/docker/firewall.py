"""Keep job containers away from the engine's host and the platform's own services.

A container on a bridge network reaches the outside through the host, and with it every service
the host listens on: the bridge's gateway address, the host's own addresses, ports bound to
0.0.0.0 (a database, Redis, Taiji itself); and, forwarded, whatever the host's networks hold: the
platform's database or broker on another machine, the cloud's metadata service. Docker has no
switch for "the outside but not those", so each job network gets a bridge named ``taiji…`` and
iptables rules on the engine's host refuse:

- everything a job bridge sends to the host itself (INPUT, IPv4 and IPv6);
- forwarded traffic leaving a job bridge for link-local addresses, the ranges of
  TAIJI_CICD_BLOCKED_NETWORKS (private ranges by default, as for sandboxed jobs) and the
  addresses of the platform's database, broker and Redis; the host's DNS resolvers stay reachable
  on port 53, since the engine's DNS for containers asks them from inside the container.

The forwarded rules live in a chain of their own, TAIJI-JOBS, entered from two places:

- from FORWARD itself, above every rule Docker has for a job's bridge (``first_in_forward``, run
  after each job network is created and before anything starts on it). Docker's own way in,
  DOCKER-USER, is not enough alone: whenever the engine creates a network (every job makes one) or
  starts, it deletes its FORWARD → DOCKER-USER jump and then inserts it again on top, and a packet
  in that moment meets Docker's ``-i <bridge> ! -o <bridge> -j ACCEPT`` first and leaves unchecked;
- from DOCKER-USER too, which Docker keeps on top of the rules of networks created later.

Rules are only ever added (several workers may share a host), never removed; the FORWARD jump is
moved back on top in one iptables transaction, never taken out and put back.
With ``TAIJI_DOCKER_FIREWALL=auto`` Taiji installs them itself, which needs the engine on this
machine and root; with ``external`` the operator has put them on the engine's host.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from taiji.platform import egress

from .engine import EngineError, EngineSettings

BRIDGE_PREFIX = "taiji"
CHAIN = "TAIJI-JOBS"
RECHECK_SECONDS = 60
LINK_LOCAL = "169.254.0.0/16"
JOB = ("-i", f"{BRIDGE_PREFIX}+")
LEAVING = (*JOB, "!", "-o", f"{BRIDGE_PREFIX}+", "-j", CHAIN)
# What may stand above the FORWARD jump: Docker's own jumps, which it keeps moving on top; the
# first enters TAIJI-JOBS too, the second only drops traffic between networks.
HARMLESS_ABOVE = ("-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1")

_checked: dict[tuple, float] = {}
_lock = threading.Lock()


def _iptables(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    path = shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if path is None:
        raise EngineError(f"{tool} is not installed; job containers cannot be kept away from this host")
    return subprocess.run([path, "-w", "10", *args], input=stdin, capture_output=True, text=True,  # noqa: S603
                          timeout=30, check=False)


def nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's IPv4 resolvers (what the engine's DNS forwards containers' questions to)."""
    found = []
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            address = egress.literal(parts[1])
            if isinstance(address, ipaddress.IPv4Address) and not address.is_loopback:
                found.append(str(address))
    return found


def platform_addresses(config: Mapping) -> list[str]:
    """Where the platform's database, broker and Redis are (IPv4, not loopback: that is out of a
    container's reach anyway)."""
    found = []
    for key in ("SQLALCHEMY_DATABASE_URI", "BROKER_URL", "REDIS_URL"):
        try:
            host = urlsplit(str(config.get(key) or "")).hostname
        except ValueError:
            host = None
        for address in (egress.resolve(host) or []) if host else []:
            if isinstance(address, ipaddress.IPv4Address) and not address.is_loopback:
                found.append(f"{address}/32")
    return sorted(set(found))


def forward_rules(config: Mapping) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """The TAIJI-JOBS chain: what is let through first, then what is refused."""
    accept = [("-d", f"{ns}/32", "-p", proto, "--dport", "53", "-j", "ACCEPT")
              for ns in nameservers() for proto in ("udp", "tcp")]
    blocked = [LINK_LOCAL, *(config.get("CICD_BLOCKED_NETWORKS") or ()), *platform_addresses(config)]
    reject = []
    for network in dict.fromkeys(blocked):
        try:
            if ipaddress.ip_network(network, strict=False).version != 4:
                continue
        except ValueError:
            continue
        reject.append(("-d", network, "-j", "REJECT"))
    return accept, reject


def _ensure(tool: str, chain: str, rule: tuple[str, ...], *, first: bool) -> None:
    if _iptables(tool, "-C", chain, *rule).returncode == 0:
        return
    done = _iptables(tool, "-I", chain, "1", *rule) if first else _iptables(tool, "-A", chain, *rule)
    if done.returncode != 0:
        raise EngineError(
            f"could not keep job containers away from this host ({tool} {chain} {' '.join(rule)}): "
            f"{done.stderr.strip()}. Run the worker as root, or install the rules yourself and set "
            "TAIJI_DOCKER_FIREWALL=external"
        )


def ensure(settings: EngineSettings, config: Mapping) -> None:
    """Make sure the rules are in place before a job container starts (at most once a minute)."""
    if config.get("DOCKER_FIREWALL") == "external":
        return
    if not settings.local:
        raise EngineError(
            f"TAIJI_DOCKER_FIREWALL=auto installs the host rules on this machine, but the engine "
            f"{settings.host} is remote: install them on its host (docs/runners.md) and set "
            "TAIJI_DOCKER_FIREWALL=external"
        )
    accept, reject = forward_rules(config)
    key = (settings.host, tuple(accept), tuple(reject))
    with _lock:
        if time.monotonic() - _checked.get(key, -RECHECK_SECONDS) < RECHECK_SECONDS:
            return
        _ensure("iptables", "INPUT", (*JOB, "-j", "REJECT"), first=True)
        if shutil.which("ip6tables", path="/usr/sbin:/sbin") is not None:
            _ensure("ip6tables", "INPUT", (*JOB, "-j", "REJECT"), first=True)
        # Without DOCKER-USER the engine manages no iptables, hence no NAT: jobs have no outside to
        # reach and nothing is forwarded to guard.
        if _iptables("iptables", "-n", "-L", "DOCKER-USER").returncode == 0:
            if _iptables("iptables", "-n", "-L", CHAIN).returncode != 0:
                _iptables("iptables", "-N", CHAIN)
            for rule in reject:
                _ensure("iptables", CHAIN, rule, first=False)
            for rule in accept:
                _ensure("iptables", CHAIN, rule, first=True)
            # Traffic between a job and its services stays on its bridge (-o taiji+) and is let be.
            _ensure("iptables", "DOCKER-USER", LEAVING, first=True)
        _checked[key] = time.monotonic()


def first_in_forward(settings: EngineSettings, config: Mapping) -> None:
    """Put the jump into TAIJI-JOBS above every FORWARD rule Docker has for the job's new bridge.

    Run after the job's network is created (Docker inserts that bridge's ACCEPT rules on top of
    FORWARD) and before any container starts on it. Once above them, it stays above: Docker inserts
    only later networks' rules on top, and those jobs run this again."""
    if config.get("DOCKER_FIREWALL") == "external":
        return
    rule = " ".join(LEAVING)
    for attempt in range(3):
        # One listing of the filter table: whether Docker's chain exists, and FORWARD's order.
        listing = _iptables("iptables", "-S")
        if listing.returncode != 0:
            raise EngineError(f"could not read this host's iptables rules: {listing.stderr.strip()}")
        lines = listing.stdout.splitlines()
        if "-N DOCKER-USER" not in lines:
            return  # the engine manages no iptables: nothing is forwarded (see ensure)
        rules = [line for line in lines if line.startswith("-A FORWARD ")]
        ours = f"-A FORWARD {rule}"
        copies = rules.count(ours)
        if copies == 1 and all(line in HARMLESS_ABOVE for line in rules[:rules.index(ours)]):
            return
        # One transaction: at no moment is the jump missing, and copies left by workers racing
        # here go with it.
        batch = ["*filter", *([f"-D FORWARD {rule}"] * copies), f"-I FORWARD 1 {rule}", "COMMIT", ""]
        done = _iptables("iptables-restore", "--noflush", stdin="\n".join(batch))
        if done.returncode == 0:
            return
        if attempt == 0:
            # The chain itself may be gone (a firewall reloaded by the operator): make it again.
            forget()
            ensure(settings, config)
    raise EngineError(
        f"could not put the job network's rules first on this host (iptables FORWARD {rule}): "
        f"{done.stderr.strip()}. Run the worker as root, or install the rules yourself and set "
        "TAIJI_DOCKER_FIREWALL=external"
    )


def forget() -> None:
    """Check again at the next job."""
    with _lock:
        _checked.clear()
