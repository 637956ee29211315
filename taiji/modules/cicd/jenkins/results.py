"""What a finished Jenkins build brings back: its JUnit summary and the artifacts the job names.

The controller is only half trusted here: the paths it names for artifacts must stay inside the
job's folder, and what it sends is bounded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import quote

from ..models import Job
from ..pipeline_file import glob_match
from ..runners import collect
from ..services.artifacts import store_artifact
from . import client
from .builds import CYAN, RED, RESET
from .models import JenkinsBuild

MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024
MAX_ARTIFACTS = 1000


def junit(server, build: JenkinsBuild) -> dict | None:
    """The build's test report (testReport/api/json) as the summary the built-in runner makes."""
    try:
        report = server.get_build_test_report(build.item, build.number)
    except Exception:  # no report is no summary, not a failure of the job
        return None
    if not isinstance(report, dict):
        return None
    passed, failed, skipped = (int(report.get(k) or 0) for k in ("passCount", "failCount", "skipCount"))
    failed_cases = []
    for suite in report.get("suites") or []:
        for case in (suite.get("cases") if isinstance(suite, dict) else None) or []:
            if isinstance(case, dict) and case.get("status") in ("FAILED", "REGRESSION"):
                name = ".".join(str(p) for p in (case.get("className"), case.get("name")) if p)
                failed_cases.append(
                    {"name": name[:300], "message": str(case.get("errorDetails") or "")[:500]}
                )
    return {
        "tests": passed + failed + skipped,
        "failures": failed,
        "errors": 0,
        "skipped": skipped,
        "passed": passed,
        "time": round(float(report.get("duration") or 0.0), 3),
        "files": [],
        "unreadable": [],
        "failed_cases": failed_cases[:50],
    }


def safe_relative(path: str) -> bool:
    """An artifact path the controller named may only name a place inside the job's folder."""
    if not path or len(path) > 1000 or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def artifacts(server, job: Job, build: JenkinsBuild, info: dict, output) -> str | None:
    """Download the artifacts the job names (``output``: the log, follow._Log); returns a problem (the job
    then fails) or None."""
    artifacts = (job.spec or {}).get("artifacts") or {}
    patterns = artifacts.get("paths") or []
    if not patterns:
        return None
    listed = [a for a in info.get("artifacts") or [] if isinstance(a, dict)][:MAX_ARTIFACTS]
    total = 0
    stored = []
    for entry in listed:
        path = str(entry.get("relativePath") or "")
        if not any(glob_match(p.rstrip("/"), path) or path.startswith(p.rstrip("/") + "/") for p in patterns):
            continue
        if not safe_relative(path):
            output.note(
                f"{RED}Jenkins named an artifact outside the job's folder ({path[:200]!r}); "
                f"Taiji did not fetch it{RESET}\n"
            )
            return "unsafe artifact path"
        url = f"{client.job_path(build.item)}{build.number}/artifact/{quote(path)}"
        with tempfile.TemporaryDirectory(prefix="taiji-jenkins-") as folder:
            target = Path(folder) / "artifact"
            response = client.request(server, "GET", url, stream=True)
            size = 0
            with target.open("wb") as out:
                for block in response.iter_content(1 << 20):
                    size += len(block)
                    total += len(block)
                    if total > MAX_ARTIFACT_BYTES:
                        response.close()
                        output.note(
                            f"{RED}The job's artifacts are larger than "
                            f"{MAX_ARTIFACT_BYTES >> 20} MiB; Taiji kept the first ones only{RESET}\n"
                        )
                        return "artifacts too large"
                    out.write(block)
            response.close()
            stored.append(store_artifact(job, target, path, expire_in=artifacts.get("expire_in")))
        output.note(f"{CYAN}Artifact {path} ({size} bytes){RESET}\n")
    # As on Taiji's own runners: `artifacts.publish` sends them on to a binary repository.
    return "artifacts not published" if collect.publish(job, stored, output.note) else None
