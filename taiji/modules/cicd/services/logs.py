"""Job logs: appended in chunks as the job writes them, read back by byte offset."""

from __future__ import annotations

import sqlalchemy as sa

from taiji.platform import live
from taiji.platform.db import db, utcnow

from ..models import Job, LogChunk, Pipeline

CHUNK_BYTES = 64 * 1024


def _pieces(text: str):
    """Split ``text`` into pieces of at most CHUNK_BYTES UTF-8 bytes, on character boundaries."""
    data = text.encode("utf-8")
    start = 0
    while start < len(data):
        end = min(start + CHUNK_BYTES, len(data))
        # Step back off a continuation byte so that no piece splits a character.
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        yield data[start:end].decode("utf-8")
        start = end


def job_topic(job: Job) -> str:
    """The live topic of a job: its log grew or its state changed."""
    return live.topic(job.tenant_id, "cicd.job", job.id)


def pipeline_topic(tenant_id: int, pipeline_id: int) -> str:
    """The live topic of a pipeline: it or one of its jobs changed state."""
    return live.topic(tenant_id, "cicd.pipeline", pipeline_id)


@live.probe("cicd.job")
def _job_fingerprints(keys: list[tuple]) -> dict:
    """Without Redis: a job's stream has news when its status or its log's size moved."""
    rows = db.session.execute(
        sa.select(Job.tenant_id, Job.id, Job.status, Job.log_size).where(Job.id.in_([key[1] for key in keys]))
    )
    return {(tenant_id, job_id): (status, size) for tenant_id, job_id, status, size in rows}


@live.probe("cicd.pipeline")
def _pipeline_fingerprints(keys: list[tuple]) -> dict:
    """Without Redis: a pipeline's stream has news when it or one of its jobs changed status."""
    rows = db.session.execute(
        sa.select(Pipeline.tenant_id, Pipeline.id, Pipeline.status, Job.id, Job.status)
        .outerjoin(Job, Job.pipeline_id == Pipeline.id)
        .where(Pipeline.id.in_([key[1] for key in keys]))
        .order_by(Pipeline.id, Job.id)
    )
    found: dict = {}
    for tenant_id, pipeline_id, status, job_id, job_status in rows:
        found.setdefault((tenant_id, pipeline_id), [status]).append((job_id, job_status))
    return {key: tuple(value) for key, value in found.items()}


def announce_job(job: Job) -> None:
    """After the commit, tell the job's and its pipeline's viewers that its state changed."""
    live.publish(job_topic(job), {"status": job.status})
    live.publish(pipeline_topic(job.tenant_id, job.pipeline_id), {})


def announce_pipeline(pipeline) -> None:
    live.publish(pipeline_topic(pipeline.tenant_id, pipeline.id), {"status": pipeline.status})


def append_log(job: Job, text: str) -> int:
    """Append ``text`` to the job's log as one or more chunks; returns the new log size in bytes.

    The caller owns the job row (only its runner writes its log), so seq and offset need no lock.
    """
    now = utcnow()
    for piece in _pieces(text):
        size = len(piece.encode("utf-8"))
        db.session.add(LogChunk(job_id=job.id, seq=job.log_seq, offset=job.log_size, text=piece,
                                created_at=now, newlines=piece.count("\n")))
        job.log_seq += 1
        job.log_size += size
    db.session.flush()
    live.publish(job_topic(job), {"size": job.log_size})
    return job.log_size


def log_size(job: Job) -> int:
    """Bytes written to the job's log so far."""
    return job.log_size


def read_log(job: Job, offset: int = 0, limit: int = CHUNK_BYTES) -> tuple[str, int, bool]:
    """Up to ``limit`` bytes of the log from byte ``offset``: (text, next_offset, done).

    ``done`` says the job has finished and nothing follows ``next_offset``; a live viewer polls
    with ``next_offset`` until then. A 50 MB log is read a page at a time, never whole.
    """
    offset = max(0, int(offset))
    limit = max(4, min(int(limit), 4 * CHUNK_BYTES))
    first = db.session.execute(
        sa.select(sa.func.max(LogChunk.offset)).where(LogChunk.job_id == job.id, LogChunk.offset <= offset)
    ).scalar()
    stmt = (
        sa.select(LogChunk.offset, LogChunk.text)
        .where(LogChunk.job_id == job.id, LogChunk.offset >= (first or 0), LogChunk.offset < offset + limit)
        .order_by(LogChunk.offset)
    )
    out = bytearray()
    position = offset
    data_end = job.log_size
    for chunk_offset, text in db.session.execute(stmt):
        data = text.encode("utf-8")
        data_end = max(data_end, chunk_offset + len(data))
        skip = max(0, position - chunk_offset)
        take = data[skip : skip + (limit - len(out))]
        out += take
        position = chunk_offset + skip + len(take)
        if len(out) >= limit:
            break
    # An offset inside a character skips the rest of it; a page never ends inside one.
    lead = 0
    while lead < len(out) and (out[lead] & 0xC0) == 0x80:
        lead += 1
    end = len(out)
    back = end - 1
    while back >= lead and back > end - 4 and (out[back] & 0xC0) == 0x80:
        back -= 1
    if back >= lead and out[back] >= 0xC0:
        width = 2 if out[back] < 0xE0 else 3 if out[back] < 0xF0 else 4
        if end - back < width:
            end = back
    text = bytes(out[lead:end]).decode("utf-8", errors="replace")
    # Where this page really ended: the chunks may run past ``job.log_size`` when the runner wrote
    # more after the job row was read (a caller that stopped at the stale size would read the same
    # page again for ever). An offset past the end with nothing read comes back to the end.
    next_offset = offset + end if end else min(offset, data_end)
    done = job.done and next_offset >= job.log_size
    return text, next_offset, done


def chunk_times(job: Job, start: int, end: int) -> list[tuple[int, object]]:
    """(offset, written at) of the chunks that hold bytes ``start``..``end`` of the log, in order:
    the console's per-line times (a chunk is what the runner wrote at once, about a second)."""
    first = db.session.execute(
        sa.select(sa.func.max(LogChunk.offset)).where(LogChunk.job_id == job.id, LogChunk.offset <= start)
    ).scalar()
    rows = db.session.execute(
        sa.select(LogChunk.offset, LogChunk.created_at)
        .where(LogChunk.job_id == job.id, LogChunk.offset >= (first or 0),
               LogChunk.offset < max(end, start + 1))
        .order_by(LogChunk.offset)
    )
    return [(offset, when) for offset, when in rows]


def lines_before(job: Job, offset: int) -> int:
    """How many lines of the log end before byte ``offset`` (its newlines there): the number of
    the line at ``offset`` is one more. Counted in the database, a long log is not loaded."""
    if offset <= 0:
        return 0
    first = db.session.execute(
        sa.select(sa.func.max(LogChunk.offset)).where(LogChunk.job_id == job.id, LogChunk.offset <= offset)
    ).scalar()
    if first is None:
        return 0
    newline = sa.literal("\n")
    whole = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(sa.func.coalesce(
            LogChunk.newlines,  # counted when written; older chunks are counted here
            sa.func.length(LogChunk.text) - sa.func.length(sa.func.replace(LogChunk.text, newline, "")))), 0))
        .where(LogChunk.job_id == job.id, LogChunk.offset < first)
    ).scalar()
    text = db.session.execute(
        sa.select(LogChunk.text).where(LogChunk.job_id == job.id, LogChunk.offset == first)
    ).scalar() or ""
    return int(whole or 0) + text.encode("utf-8")[: offset - first].count(b"\n")


def at_line_start(job: Job, offset: int) -> bool:
    """Whether byte ``offset`` of the log begins a line (the byte before it is a newline)."""
    if offset <= 0:
        return True
    row = db.session.execute(
        sa.select(LogChunk.offset, LogChunk.text)
        .where(LogChunk.job_id == job.id, LogChunk.offset <= offset - 1)
        .order_by(LogChunk.offset.desc()).limit(1)
    ).first()
    if row is None:
        return True
    return row.text.encode("utf-8")[offset - 1 - row.offset : offset - row.offset] == b"\n"
