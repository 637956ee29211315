"""A pipeline job streaming its log from a process of its own, as a runner does: lines written
through the runner's own ``LogWriter``, which commits a chunk every FLUSH_SECONDS.

    python -m tests.fakes.log_streamer DATABASE_URL DATA_DIR JOB_ID STOP_FILE

Runs until STOP_FILE exists, then prints how many lines it wrote.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(database_url: str, data_dir: str, job_id: str, stop_file: str) -> None:
    from taiji.modules.cicd.models import Job
    from taiji.modules.cicd.runners.process import LogWriter
    from taiji.platform.app import create_app
    from taiji.platform.db import db
    from tests.conftest import app_overrides

    app = create_app(app_overrides(database_url, Path(data_dir)))
    stop = Path(stop_file)
    lines = 0
    with app.app_context():
        writer = LogWriter(db.session.get(Job, int(job_id)), secrets=[])
        while not stop.exists():
            writer.write(f"step {lines}: compiling module {lines % 97}\n")
            lines += 1
            time.sleep(0.002)
        writer.flush(final=True)
        db.session.remove()
    print(lines, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
