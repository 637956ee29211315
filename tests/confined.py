"""Run a piece of Python in a child process with a memory and CPU ceiling, for tests that feed
Taiji a bomb (YAML aliases, a zip of zeros): the bomb must be refused, not kill the process. A
ceiling rather than a timing threshold: a refused bomb finishes with exit status 0 however slow
the machine; an expanded one dies of MemoryError (status 1) or SIGXCPU."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def run_confined(source: str, *, memory_mb: int = 768, cpu_seconds: int = 60,
                 stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ``source`` with ``python -c`` under RLIMIT_AS/RLIMIT_CPU; returns the finished process."""

    def confine() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], input=stdin, capture_output=True, cwd=ROOT,
        preexec_fn=confine, timeout=cpu_seconds * 3, check=False)
