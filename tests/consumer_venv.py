"""A fresh virtual environment for a test to install into with pip, as a consumer of Taiji's package
index would. It is made without pip (``venv --without-pip``, 50 ms instead of ensurepip's 4 s of
CPU), and the pip of the test run installs into it through ``pip --python``: the same pip, the same
index protocol, the environment's own interpreter and site-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def make(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path


def pip(venv: Path) -> list[str]:
    """The command line of pip acting on ``venv`` (append ``install``, its options and requirements)."""
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
