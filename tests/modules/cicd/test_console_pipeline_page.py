"""The pipeline console as one product (issue 15): the run form's repository and ref pickers, manual
jobs shown as manual from the start and played from the pipeline page, no Retry for a pipeline
whose file was invalid, the commit's message, and a log of numbered, timed, foldable lines."""

from __future__ import annotations

import re
import subprocess

import sqlalchemy as sa

from taiji.modules.cicd import services
from taiji.modules.cicd.models import JobStatus, LogChunk, PipelineStatus
from taiji.modules.vcs import services as vcs
from taiji.platform.db import db
from tests.factories import make_member
from tests.modules.cicd.conftest import make_hosted
from tests.modules.vcs.fixtures.gitdata import commit_files

from .test_console import BROKEN_FILE, make_pipeline, set_states

ONE_JOB = "jobs:\n  build:\n    script: [echo build]\n"


def _tag(tenant, repository: str, name: str, sha: str) -> None:
    git_dir = vcs.local_git_dir(vcs.get_repository(tenant, repository))
    subprocess.run(["git", "tag", name, sha], cwd=git_dir, check=True, capture_output=True)


# -- the run form's pickers --------------------------------------------------------------------


def test_run_form_picks_a_repository_and_one_of_its_branches_or_tags(login, admin, tenant):
    sha = make_hosted(tenant, "api", {".taiji.yml": ONE_JOB})
    make_hosted(tenant, "api", {"README": "x"}, branch="feature/login")
    _tag(tenant, "api", "v1.0", sha)
    make_hosted(tenant, "web", {".taiji.yml": ONE_JOB}, branch="trunk")
    web = vcs.get_repository(tenant, "web")
    vcs.update_repository(tenant, web, {"default_branch": "trunk"})
    db.session.commit()
    client = login(admin)

    html = client.get(f"/t/{tenant.slug}/pipelines").get_data(as_text=True)
    picker = re.search(r'<select[^>]*data-testid="repository-picker".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option[^>]*value="([^"]+)"', picker) == ["api", "web"]
    assert f'hx-get="/t/{tenant.slug}/pipelines/refs"' in picker and 'hx-target="#ref-field"' in picker
    refs = re.search(r'<select[^>]*data-testid="ref-picker".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]+)"', refs) == ["feature/login", "main", "v1.0"]
    assert re.search(r'<option value="main" selected>', refs)  # the default branch
    assert '<optgroup label="Tags">' in refs

    # The ref picker of another repository (what htmx swaps in when the repository changes).
    fragment = client.get(f"/t/{tenant.slug}/pipelines/refs?repository=web").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div class="mb-3" id="ref-field"')
    assert re.findall(r'<option value="([^"]+)"', fragment) == ["trunk"]
    assert '<option value="trunk" selected>' in fragment
    unknown = client.get(f"/t/{tenant.slug}/pipelines/refs?repository=nope").get_data(as_text=True)
    assert "<option" not in unknown and 'data-testid="ref-none"' in unknown

    # Running from the form: the chosen tag.
    response = client.post(f"/t/{tenant.slug}/pipelines", data={"repository": "api", "ref": "v1.0"})
    assert response.status_code == 302
    pipeline = services.list_pipelines(tenant).items[0]
    assert (pipeline.repository, pipeline.ref, pipeline.sha) == ("api", "refs/tags/v1.0", sha)
    # A ref that is not there: refused on the form, the choices kept.
    refused = client.post(f"/t/{tenant.slug}/pipelines", data={"repository": "web", "ref": "gone"})
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "No branch, tag or commit &#39;gone&#39;" in body
    assert re.search(r'<option (selected value="web"|value="web" selected)', body)


def test_the_ref_picker_needs_the_right_to_run_pipelines(client, login, tenant):
    make_hosted(tenant, "api", {".taiji.yml": ONE_JOB})
    login(make_member(tenant, "viewer"))
    assert client.get(f"/t/{tenant.slug}/pipelines/refs?repository=api").status_code == 403
    html = client.get(f"/t/{tenant.slug}/pipelines").get_data(as_text=True)
    assert 'data-testid="repository-picker"' not in html


# -- manual jobs ---------------------------------------------------------------------------------


def test_a_manual_job_is_manual_from_the_start_and_played_from_the_pipeline_page(login, admin, tenant):
    pipeline = make_pipeline(tenant)  # deploy needs package, which needs lint and test
    jobs = {job.name: job for job in pipeline.jobs}
    assert jobs["deploy"].status == JobStatus.MANUAL  # before its needs ran
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    row = re.search(r'<tr data-testid="job-row" data-job="deploy".*?</tr>', html, re.S).group(0)
    assert 'data-status="manual"' in row
    assert re.search(r'data-testid="job-play" aria-label="Play deploy"', row)
    assert 'data-testid="job-play"' not in re.search(r'<tr data-testid="job-row" data-job="lint".*?</tr>',
                                                     html, re.S).group(0)
    response = client.post(f"/t/{tenant.slug}/jobs/{jobs['deploy'].id}/play", data={"back": "pipeline"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pipelines/{pipeline.id}")
    db.session.refresh(jobs["deploy"])
    # Played: it waits for its needs now, then runs (tests/modules/cicd/test_runner.py runs one).
    assert jobs["deploy"].status == JobStatus.CREATED and jobs["deploy"].played_by_email == admin.email


def test_a_manual_job_whose_need_failed_is_skipped(tenant):
    text = "jobs:\n  a:\n    script: [x]\n  b:\n    needs: [a]\n    when: manual\n    script: [y]\n"
    pipeline = make_pipeline(tenant, text=text)
    jobs = {job.name: job for job in pipeline.jobs}
    assert jobs["b"].status == JobStatus.MANUAL
    from taiji.modules.cicd.services import scheduler

    set_states(pipeline, a=JobStatus.FAILED)
    scheduler.advance(pipeline)
    db.session.commit()
    assert jobs["b"].status == JobStatus.SKIPPED and pipeline.status == PipelineStatus.FAILED


def test_a_viewer_sees_no_play_control(client, login, tenant):
    pipeline = make_pipeline(tenant)
    login(make_member(tenant, "viewer"))
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert 'data-status="manual"' in html and 'data-testid="job-play"' not in html


def test_the_play_control_is_labelled_in_chinese(login, admin, tenant):
    pipeline = make_pipeline(tenant)
    client = login(admin)
    client.post("/locale", data={"locale": "zh_Hans"})
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}")
    assert 'aria-label="运行 deploy"' in html.get_data(as_text=True)


# -- no Retry on a pipeline whose file was invalid ---------------------------------------------


def test_no_retry_for_a_pipeline_whose_file_was_invalid(login, admin, tenant, api_as):
    pipeline = make_pipeline(tenant, text=BROKEN_FILE)
    assert pipeline.status == PipelineStatus.ERROR and not pipeline.jobs
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert 'data-testid="pipeline-error"' in html
    assert 'data-testid="pipeline-retry"' not in html
    assert "fix .taiji.yml and push, or run the pipeline again" in html
    # Asked anyway: refused with the reason, nothing made.
    page = client.post(f"/t/{tenant.slug}/pipelines/{pipeline.id}/retry", follow_redirects=True)
    assert "Fix .taiji.yml and push, or run the pipeline again." in page.get_data(as_text=True)
    response = api_as(admin).post(f"/api/v1/tenants/{tenant.slug}/pipelines/{pipeline.id}/retry")
    assert response.status_code == 409
    assert "Fix .taiji.yml and push" in response.get_data(as_text=True)
    assert services.list_pipelines(tenant).total == 1
    # A finished pipeline that had jobs keeps its Retry.
    good = make_pipeline(tenant)
    set_states(good, PipelineStatus.FAILED, lint=JobStatus.FAILED)
    assert 'data-testid="pipeline-retry"' in client.get(f"/t/{tenant.slug}/pipelines/{good.id}").get_data(
        as_text=True)


# -- the commit ----------------------------------------------------------------------------------


def test_the_pipeline_page_and_list_show_the_commit_message(login, admin, tenant):
    make_hosted(tenant, "shop", {".taiji.yml": ONE_JOB})
    repo = vcs.get_repository(tenant, "shop")
    sha = commit_files(vcs.local_git_dir(repo), {"a.txt": "a"},
                       "Add the <b>basket</b> page\n\nLong story:\n<script>alert(1)</script> and more.\n")
    pipeline = services.run_pipeline(tenant, "shop", "main")
    db.session.commit()
    client = login(admin)
    html = client.get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    title = re.search(r'data-testid="commit-title">(.*?)</span>', html).group(1)
    assert title == "Add the &lt;b&gt;basket&lt;/b&gt; page"
    link = re.search(r'data-testid="commit-link" href="([^"]+)"', html).group(1)
    assert link == f"/t/{tenant.slug}/repositories/shop/commit/{sha}"
    assert client.get(link).status_code == 200  # the VCS commit page
    assert f'data-testid="commit-sha">{sha[:10]}<' in html
    body = re.search(r'<details[^>]*data-testid="commit-body">.*?</details>', html, re.S).group(0)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; and more." in body and "<script>alert" not in body
    listing = client.get(f"/t/{tenant.slug}/pipelines").get_data(as_text=True)
    assert re.search(r'data-testid="commit-title"[^>]*>Add the &lt;b&gt;basket&lt;/b&gt; page<', listing)


def test_a_commit_that_is_gone_shows_its_sha_only(login, admin, tenant):
    pipeline = make_pipeline(tenant)  # "shop" is no repository: no message to read
    html = login(admin).get(f"/t/{tenant.slug}/pipelines/{pipeline.id}").get_data(as_text=True)
    assert 'data-testid="commit-link"' not in html and 'data-testid="commit-sha"' in html


# -- the log -------------------------------------------------------------------------------------


def _box(html: str) -> str:
    return re.search(r'<pre id="job-log"[^>]*>(.*?)</pre>', html, re.S).group(1)


def test_the_log_has_numbered_timed_lines_and_foldable_sections_and_stays_escaped(login, admin, tenant):
    pipeline = make_pipeline(tenant, text=ONE_JOB)
    job = pipeline.jobs[0]
    set_states(pipeline, PipelineStatus.SUCCESS, build=JobStatus.SUCCESS)
    services.append_log(job, "\x1b[36mRunning on worker\x1b[0m\n\x1b[1m\x1b[32m$ make\x1b[0m\ncompiling\n")
    services.append_log(job, "<script>alert(1)</script>\n"
                             "\x1b[0Ksection_start:1700000000:tests[collapsed=true]\r\x1b[0KRunning tests\n"
                             "ok 1\n\x1b[0Ksection_end:1700000001:tests\r\x1b[0K\ndone")
    db.session.commit()
    box = _box(login(admin).get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True))
    lines = re.findall(r'<span class="(log-line[^"]*)"', box)
    assert len(lines) == 8
    assert lines[1] == "log-line log-section" and lines[4] == "log-line log-section"
    assert lines[0] == "log-line"
    assert lines[6] == "log-line log-section-end"
    assert box.count('data-log-fold') == 2 and 'aria-expanded="true"' in box
    assert len(re.findall(r'<i class="log-time" data-time="\d\d:\d\d:\d\d"', box)) == 8
    # The markers are read, not shown; the section is named.
    assert "section_start" not in box and "section_end" not in box and 'data-section="tests"' in box
    # Output is text: the job cannot add markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in box and "<script>" not in box
    # Colours still work, and numbers and times are not part of the text one copies.
    assert '<span class="ansi-fg-cyan">Running on worker</span>' in box
    shown = [re.sub(r"<[^>]+>", "", "<" + piece) for piece in box.split('<span class="log-line')[1:]]
    assert shown[:3] == ["Running on worker", "$ make", "compiling"]
    assert lines[-1] == "log-line log-open"  # "done" has no newline yet


def test_line_numbers_count_from_the_start_of_a_long_log(login, admin, tenant):
    pipeline = make_pipeline(tenant, text=ONE_JOB)
    job = pipeline.jobs[0]
    set_states(pipeline, PipelineStatus.SUCCESS, build=JobStatus.SUCCESS)
    services.append_log(job, "".join(f"line {n:06d} {'x' * 80}\n" for n in range(1, 4001)))  # ~360 KB
    db.session.commit()
    client = login(admin)
    box = _box(client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True))
    before = int(re.search(r'style="counter-reset: log-line (\d+)"', box).group(1))
    first = int(re.search(r"line (\d{6})", box).group(1))
    assert first == before + 1 > 1  # the counter numbers the first line shown as the log's line `first`
    start = int(re.search(r"before=(\d+)", box).group(1))
    earlier = client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?before={start}").get_data(as_text=True)
    assert 'counter-reset' not in earlier  # it reaches the start: counting begins at the box's 0
    assert re.search(r"line (\d{6})", earlier).group(1) == "000001"
    # Chunks written before they kept their time and line count: counted all the same, no times.
    db.session.execute(sa.update(LogChunk).where(LogChunk.job_id == job.id)
                       .values(created_at=None, newlines=None))
    db.session.commit()
    old = _box(client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True))
    assert int(re.search(r'style="counter-reset: log-line (\d+)"', old).group(1)) == before
    assert "data-time" not in old and '<i class="log-time"></i>' in old


def test_a_page_of_live_text_that_continues_a_line_gets_no_number(login, admin, tenant):
    pipeline = make_pipeline(tenant, text=ONE_JOB)
    job = pipeline.jobs[0]
    set_states(pipeline, PipelineStatus.RUNNING, build=JobStatus.RUNNING)
    services.append_log(job, "half a li")
    db.session.commit()
    offset = job.log_size
    services.append_log(job, "ne\nnext\n")
    db.session.commit()
    client = login(admin)
    tail = client.get(f"/t/{tenant.slug}/jobs/{job.id}/log?offset={offset}").get_data(as_text=True)
    assert re.findall(r'<span class="(log-line[^"]*)"', tail) == ["log-line log-cont", "log-line"]
    assert tail.startswith('<span class="log-line log-cont">ne</span>')
    page = client.get(f"/t/{tenant.slug}/jobs/{job.id}").get_data(as_text=True)
    assert re.findall(r'<span class="(log-line[^"]*)"', _box(page)) == ["log-line", "log-line"]
    # The job's event stream sends the same markup: tests/e2e/test_pipelines.py watches it.
