"""The job page: its state, failure reason, buttons, and a log that is paged, followed live,
coloured, escaped and downloadable whole."""

from __future__ import annotations

import re

from taiji.modules.cicd import services
from taiji.modules.cicd.models import FailureReason, JobStatus, PipelineStatus
from taiji.platform.db import db, utcnow
from tests.factories import make_member

from .test_console import make_pipeline, set_states

ONE_JOB = "jobs:\n  build:\n    script: [echo build]\n"
MANUAL = "jobs:\n  deploy:\n    when: manual\n    script: [echo deploy]\n"


def one_job(tenant, text=ONE_JOB):
    pipeline = make_pipeline(tenant, text=text)
    return pipeline, pipeline.jobs[0]


def write(job, text):
    services.append_log(job, text)
    db.session.commit()


def log_text(html: str) -> str:
    """The text inside the log box, markup removed (what a person reads)."""
    box = re.search(r'<pre id="job-log"[^>]*>(.*?)</pre>', html, re.S).group(1)
    return re.sub(r"<[^>]+>", "", box)


def test_running_job_page_polls_and_offers_cancel(login, admin, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.RUNNING, build=JobStatus.RUNNING)
    write(job, "step one\n")
    html = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert "step one" in log_text(html)
    assert 'data-testid="job-cancel"' in html
    tail = re.search(r'<span id="log-tail"[^>]*>', html).group(0)
    assert 'hx-trigger="every 1s"' in tail
    assert f'data-offset="{job.log_size}"' in tail


def test_tail_returns_only_new_text_and_stops_when_the_job_is_done(login, admin, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.RUNNING, build=JobStatus.RUNNING)
    write(job, "first line\n")
    client = login(admin)
    offset = job.log_size
    write(job, "\x1b[32msecond line\x1b[0m\n")
    fragment = client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?offset={offset}").get_data(as_text=True)
    assert "first line" not in fragment
    # Exactly the new line and the next poller: inside <pre>, any stray whitespace would show.
    assert re.fullmatch(r'<span class="log-line"><i class="log-time" data-time="\d\d:\d\d:\d\d"[^>]*></i>'
                        r'<span class="ansi-fg-green">second line</span></span><span id="log-tail".*',
                        fragment, re.S)
    assert f'data-offset="{job.log_size}"' in fragment and 'data-done' not in fragment
    job.status = JobStatus.SUCCESS
    job.finished_at = utcnow()
    db.session.commit()
    fragment = client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?offset={job.log_size}").get_data(as_text=True)
    assert 'data-done="1"' in fragment and "hx-get" not in fragment


def test_a_50_mb_log_shows_its_end_and_pages_earlier_text(login, admin, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.SUCCESS, build=JobStatus.SUCCESS)
    line = "x" * 99 + "\n"
    block = "".join(f"{n:07d} {line}" for n in range(5000))  # ~540 KB a block
    for _ in range(95):  # ~50 MB in all
        services.append_log(job, block)
    services.append_log(job, "THE LAST LINE\n")
    db.session.commit()
    assert job.log_size > 50_000_000
    client = login(admin)
    response = client.get(f"/t/{tenant.slug}/jobs/{job.id}")
    html = response.get_data(as_text=True)
    assert len(html) < 600_000  # the last 256 KB (each line in its numbered, timed element), not the 50 MB
    text = log_text(html)
    assert text.rstrip().endswith("THE LAST LINE")
    # The window starts on a whole line.
    assert re.match(r"\s*Load earlier output.*?\n?\d{7} x", text, re.S)
    before = int(re.search(r"before=(\d+)", html).group(1))
    earlier = client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?before={before}").get_data(as_text=True)
    assert 200_000 < len(earlier) < 500_000
    assert "load" in earlier.lower()  # and there is more before that
    first_shown = int(re.search(r"(\d{7}) x", text).group(1))
    last_earlier = int(re.findall(r"(\d{7}) x", earlier)[-1])
    assert (last_earlier + 1) % 5000 == first_shown % 5000  # no line lost or repeated between pages
    for odd in ("before=0", "before=-5", "offset=-1", "offset=999999999999", "offset=abc"):
        assert client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?{odd}").status_code == 200, odd
    assert client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?before=0").get_data(as_text=True) == ""


def test_raw_log_downloads_everything_as_written(login, admin, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.SUCCESS, build=JobStatus.SUCCESS)
    text = "".join(f"line {n} \x1b[1mbold\x1b[0m\n" for n in range(30000))
    write(job, text)
    response = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}/log.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_data(as_text=True) == text


def test_log_markup_is_escaped(login, admin, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.SUCCESS, build=JobStatus.SUCCESS)
    write(job, '<script>alert("owned")</script>\n')
    html = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert '<script>alert("owned")' not in html
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in html


def test_failed_job_shows_reason_exit_code_and_retry(login, admin, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.FAILED, build=JobStatus.FAILED)
    job.failure_reason, job.exit_code, job.finished_at = FailureReason.TIMEOUT, 137, utcnow()
    job.junit = {"tests": 7, "failures": 2, "errors": 0, "skipped": 1}
    db.session.commit()
    html = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert re.search(r'data-testid="failure-reason">\s*timed out', html)
    assert re.search(r'data-testid="exit-code">\s*137', html)
    assert 'data-testid="job-retry"' in html and 'data-testid="job-cancel"' not in html
    summary = re.search(r'data-testid="junit-summary">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert "4 passed" in summary and "2 failed" in summary and "1 skipped" in summary
    assert 'data-polling="on"' not in html


def test_manual_job_is_played_from_the_console(login, admin, tenant):
    _pipeline, job = one_job(tenant, MANUAL)
    assert job.status == JobStatus.MANUAL
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert 'data-testid="job-play"' in html
    response = client.post(f"/t/{tenant.slug}/jobs/{job.id}/play")
    assert response.status_code == 302
    db.session.refresh(job)
    assert job.status != JobStatus.MANUAL
    assert job.played_by_email == admin.email
    # Playing twice is refused with the reason, not a 500.
    again = client.post(f"/t/{tenant.slug}/jobs/{job.id}/play", follow_redirects=True).get_data(as_text=True)
    assert "Refused" in again


def test_viewer_cannot_cancel_a_job(client, login, tenant):
    pipeline, job = one_job(tenant)
    set_states(pipeline, PipelineStatus.RUNNING, build=JobStatus.RUNNING)
    login(make_member(tenant, "viewer"))
    html = client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert 'data-testid="job-cancel"' not in html
    assert client.post(f"/t/{tenant.slug}/jobs/{job.id}/cancel").status_code == 403
    db.session.refresh(job)
    assert job.status == JobStatus.RUNNING


def test_missing_artifact_is_not_found(login, admin, tenant):
    _pipeline, job = one_job(tenant)
    assert login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}/artifacts/999999").status_code == 404


def test_artifacts_show_their_size_and_expiry_for_people(login, admin, tenant):
    import datetime as dt

    from taiji.modules.cicd.models import Artifact

    _pipeline, job = one_job(tenant)
    db.session.add(Artifact(job_id=job.id, tenant_id=tenant.id, path="dist/app.tar.gz", size=1536 * 1024,
                            sha256="0" * 64, created_at=utcnow(),
                            expires_at=dt.datetime(2026, 12, 20, 8, 5, tzinfo=dt.UTC)))
    db.session.commit()
    html = login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert "<td>1.5 MiB</td>" in html
    assert "2026-12-20 08:05 UTC" in html
