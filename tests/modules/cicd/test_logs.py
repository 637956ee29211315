"""Job logs: chunks of at most 64 KiB, read back by byte offset a page at a time."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.modules.cicd import services
from taiji.modules.cicd.models import LogChunk
from taiji.platform.db import db
from tests.modules.cicd.conftest import make_hosted


def _job(tenant):
    make_hosted(tenant, "logs", {".taiji.yml": "jobs:\n  a: {script: [echo a]}\n"})
    return services.run_pipeline(tenant, "logs", "main").jobs[0]


def test_a_big_log_is_stored_in_bounded_chunks_and_read_back_exactly_in_pages(tenant):
    job = _job(tenant)
    line = "步骤 ✓ step — output line with some width to it\n"
    text = line * 12000  # about 700 KB, multi-byte characters throughout
    for start in range(0, len(text), 50_000):  # written as a runner would, in uneven pieces
        services.append_log(job, text[start : start + 50_000])
    chunks = list(db.session.execute(sa.select(LogChunk.text).where(LogChunk.job_id == job.id)).scalars())
    assert len(chunks) > 10 and max(len(chunk.encode()) for chunk in chunks) <= 64 * 1024
    assert services.log_size(job) == len(text.encode())
    pieces, offset, pages = [], 0, 0
    while True:
        piece, offset, done = services.read_log(job, offset=offset, limit=100_001)  # odd: splits characters
        if not piece:
            break
        pieces.append(piece)
        pages += 1
    assert "".join(pieces) == text
    assert pages >= 7 and offset == len(text.encode()) and not done  # the job has not finished


def test_an_offset_inside_a_character_never_returns_broken_text(tenant):
    job = _job(tenant)
    services.append_log(job, "ab✓cd")
    piece, next_offset, _ = services.read_log(job, offset=3)  # inside the three bytes of ✓
    assert piece == "cd" and next_offset == len("ab✓cd".encode())
    piece, next_offset, _ = services.read_log(job, offset=0, limit=4)
    assert piece == "ab" and next_offset == 2
    assert services.read_log(job, offset=10**12) == ("", services.log_size(job), False)


def test_a_reader_whose_job_row_is_older_than_the_log_still_reaches_its_end(tenant):
    # A viewer loaded the job, then the runner (another process) wrote more: the page that reads
    # past the size the viewer knows must move it on, not send it back to read the same page again.
    job = _job(tenant)
    services.append_log(job, "first part\n")
    db.session.commit()
    stale_size = job.log_size
    db.session.execute(
        sa.insert(LogChunk).values(job_id=job.id, seq=job.log_seq, offset=stale_size, text="written later\n")
    )
    pieces, offset = [], 0
    for _ in range(10):
        piece, offset, _done = services.read_log(job, offset=offset)
        if not piece:
            break
        pieces.append(piece)
    assert "".join(pieces) == "first part\nwritten later\n"
    assert job.log_size == stale_size and offset == len("first part\nwritten later\n")
    assert services.read_log(job, offset=offset) == ("", offset, False)  # polling stays at the end
