"""The panels' HTML (:mod:`goesvfi_lab.html`), checked as strings: escaping, numbers, bars, sparkline, tables."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from goesvfi_lab import html as fmt
from goesvfi_lab.discover import Sequence
from goesvfi_lab.model import BatchJob, JobPriority, JobStatus, Stats
from goesvfi_lab.widgets.formatting import style_tag, stylesheet
from goesvfi_lab.widgets.state import WorkerRow

EVIL = '<img src=x onerror="alert(1)">&"\''


class _Balance(HTMLParser):
    """Fails on unbalanced tags: a stray quote or bracket from unescaped text shows up here."""

    VOID = {"img", "br", "input", "meta", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>, open: {self.stack}"
        self.stack.pop()


def balanced(markup: str) -> list[str]:
    p = _Balance()
    p.feed(markup)
    p.close()
    assert p.stack == [], f"unclosed tags {p.stack}"
    return p.tags


def test_numbers():
    assert fmt.fmt_bytes(None) == "—"
    assert fmt.fmt_bytes(512) == "512 B"
    assert fmt.fmt_bytes(1_500_000) == "1.5 MB"
    assert fmt.fmt_bytes(3.2e12) == "3.2 TB"
    assert fmt.fmt_duration(None) == "—"
    assert fmt.fmt_duration(float("nan")) == "—"
    assert fmt.fmt_duration(4.25) == "4.2 s"
    assert fmt.fmt_duration(42) == "42 s"
    assert fmt.fmt_duration(185) == "3 min 05 s"
    assert fmt.fmt_duration(timedelta(hours=2, minutes=7)) == "2 h 07 min"
    assert fmt.fmt_duration(90000) == "1 d 01 h"
    assert fmt.fmt_percent(None) == "—"
    assert fmt.fmt_percent(1.0) == "100 %"
    assert fmt.fmt_percent(0.9996) == "99.9 %"  # never rounds up to a false 100 %
    assert fmt.fmt_percent(0.5) == "50 %"
    assert fmt.fmt_rate(0) == "0.0 frames/s"
    assert fmt.fmt_rate(250.4) == "250 frames/s"
    assert fmt.fmt_rate(0.05) == "3.0 frames/min"
    # snapshot values arrive as JSON numbers, ints or None: the same printing
    assert fmt.fmt_rate(3) == "3.0 frames/s" and fmt.fmt_percent(1) == "100 %" and fmt.fmt_duration(75) == "1 min 15 s"


def test_escape_and_note():
    assert fmt.esc(None) == "" and fmt.esc(0) == "0"  # None prints nothing, on the panels and the page alike
    assert fmt.esc(EVIL) == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&quot;&#x27;"
    assert fmt.html_note(EVIL) == f'<span class="gvl-muted">{fmt.esc(EVIL)}</span>'


def test_eta_reads_the_same_from_stats_and_from_their_dict():
    cases = [
        Stats(),
        Stats(total=2, completed=2, state="ready"),
        Stats(total=2, completed=1, failed=1, state="ready"),
        Stats(total=2, pending=2, state="paused"),
        Stats(total=3, running=1, completed=2, eta_seconds=75.0, state="running"),
    ]
    assert [fmt.fmt_eta(s) for s in cases] == [fmt.fmt_eta(s.to_dict()) for s in cases]
    assert fmt.fmt_eta(cases[-1]) == "1 min 15 s" and fmt.fmt_eta(cases[2]) == "1 failed"
    assert fmt.fmt_eta(Stats(total=2, pending=2, state="running"), state="paused: circuit breaker") == "paused"


def test_timestamps():
    now = time.time()
    assert re.fullmatch(r"\d\d:\d\d:\d\d", fmt.fmt_timestamp(now, now))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", fmt.fmt_timestamp(now - 3 * 86400, now))
    plus2 = timezone(timedelta(hours=2))
    assert fmt.fmt_utc(datetime(2024, 1, 1, 14, 0, tzinfo=plus2)) == "2024-01-01 12:00 UTC"


def test_badge_and_bar():
    assert fmt.status_badge(JobStatus.FAILED) == '<span class="gvl-badge gvl-status-failed">failed</span>'
    assert fmt.status_badge("running", label=EVIL).count("<") == 2  # label escaped
    bar = fmt.progress_bar(0.37, status=JobStatus.RUNNING)
    assert 'style="width:37.0%"' in bar and "37 %" in bar and "gvl-status-running" in bar
    balanced(bar)
    assert "width:100.0%" in fmt.progress_bar(7.0) and "width:0.0%" in fmt.progress_bar(-1)
    assert "width:0.0%" in fmt.progress_bar(None)
    assert "&lt;img" in fmt.progress_bar(0.5, label=EVIL)


def test_sparkline_scales_to_peak():
    svg = fmt.sparkline([0, 1, 2, 4], width=100, height=20)
    balanced(svg)
    pts = re.search(r'<polyline points="([^"]+)"', svg).group(1).split()
    xs = [float(p.split(",")[0]) for p in pts]
    ys = [float(p.split(",")[1]) for p in pts]
    assert xs[0] == 2 and xs[-1] == 98  # padded ends
    assert ys[0] == 18 and ys[-1] == 2  # zero at the bottom, the peak at the top
    assert "peak 4.00 frames/s" in svg
    assert "waiting for data" in fmt.sparkline([1.0])
    assert "<polyline" in fmt.sparkline([float("nan"), None, 3.0])  # bad samples count as zero


def test_error_box_escapes_message_and_traceback():
    box = fmt.error_box(EVIL, detail='Traceback <module>\n  File "x.py"')
    balanced(box)
    assert "<img" not in box and "&lt;img" in box
    assert "<details>" in box and "&lt;module&gt;" in box
    assert 'role="alert"' in box


def test_links():
    assert "no dashboard" in fmt.links(None, None)
    html_ = fmt.links("http://h:8787/status", "http://h:8787/goesvfi")
    assert 'href="http://h:8787/status"' in html_ and 'href="http://h:8787/goesvfi"' in html_
    assert "&quot;" in fmt.links('http://x/"><script>', None)


def test_match_summary():
    s = fmt.match_summary(1, 1, 2_000_000)
    assert 'data-count="1"' in s and "1 file in 1 sequence, 2.0 MB" in s
    assert "24 files in 2 sequences" in fmt.match_summary(24, 2, 10)


def _seq(name: str, n: int = 3, missing: int = 0) -> Sequence:
    t0 = datetime(2023, 12, 31, 12, 0, tzinfo=timezone.utc)
    return Sequence(
        name=name,
        key=None,
        paths=[f"/d/f{i}.nc" for i in range(n)],
        times=[t0 + timedelta(minutes=5 * i) for i in range(n)],
        cadence=timedelta(minutes=5),
        missing=[t0] * missing,
        size_bytes=3_000_000,
    )


def test_sequences_table():
    table = fmt.sequences_table([_seq("G16 C13 CONUS", 4, missing=2), _seq(EVIL)], selected=1)
    tags = balanced(table)
    assert tags.count("tr") == 3
    assert "&lt;img" in table and "<img" not in table
    row = re.findall(r"<tr[^>]*>.*?</tr>", table)[1]
    assert ">4<" in row and "2023-12-31 12:00 – 12:15" in row
    assert ">15 min 00 s<" in row and ">5 min 00 s<" in row and ">2<" in row and "3.0 MB" in row
    assert 'class="gvl-selected"' in re.findall(r"<tr[^>]*>", table)[2]
    assert "No sequences" in fmt.sequences_table([])


def test_job_row_escapes_name_and_error():
    job = BatchJob(name=EVIL, inputs=["a", "b", "c"], output_dir="o", factor=2, priority="high")
    job.status = JobStatus.FAILED
    job.error = "FrameError: /x/<bad>.nc: truncated"
    job.frames_done = 2
    job.position = None
    row = fmt.job_row(job)
    balanced(row)
    assert "<img" not in row and "&lt;img" in row and "truncated" not in row  # the error: the note widget
    assert f'data-job-id="{job.id}"' in row and 'data-status="failed"' in row
    assert ">high<" in row and "2/5" in row and "width:40.0%" in row
    assert len(re.findall(r"<span", fmt.job_header())) == len(fmt.JOB_COLUMNS)


def test_stats_summary():
    st = Stats(
        total=3,
        completed=2,
        failed=1,
        frames_done=10,
        frames_total=10,
        success_rate=2 / 3,
        throughput=12.5,
        eta_seconds=None,
        progress=1.0,
    )
    html_ = fmt.stats_summary(st, state="paused")
    balanced(html_)
    tile = lambda key: re.search(rf'data-key="{key}".*?gvl-tile-value">([^<]*)<', html_).group(1)  # noqa: E731
    assert tile("progress") == "100 %"
    assert tile("success_rate") == "67 %"
    assert tile("throughput") == "12.5 frames/s"
    assert tile("eta") == "1 failed"  # finished, but not everything wanted was done
    assert tile("frames") == "10 / 10"
    assert tile("state") == "paused"
    done = Stats(total=2, completed=2, frames_done=10, frames_total=10, progress=1.0, eta_seconds=0.0, state="ready")
    assert re.search(r'data-key="eta".*?gvl-tile-value">done<', fmt.stats_summary(done))
    assert re.search(r'data-key="state".*?gvl-tile-value">ready<', fmt.stats_summary(done))
    empty = Stats(state="ready")  # started, no job yet: the ETA is unknown, not "0.0 s"
    assert re.search(r'data-key="eta".*?gvl-tile-value">—<', fmt.stats_summary(empty))
    assert re.search(r'data-key="failed">failed <b>1</b>', html_)
    running = Stats(total=2, running=1, eta_seconds=75, progress=0.4)
    assert "1 min 15 s" in fmt.stats_summary(running)
    assert re.search(r'data-key="eta".*?gvl-tile-value">paused<', fmt.stats_summary(running, state="paused"))
    # every frame written but the video still encoding: not "100 %" yet
    assembling = Stats(total=1, running=1, frames_done=9, frames_total=9, progress=1.0)
    assert fmt.display_progress(assembling) == 0.999
    assert re.search(r'data-key="progress".*?gvl-tile-value">99.9 %<', fmt.stats_summary(assembling))


def test_a_failed_job_does_not_look_finished():
    # the queue of the report: one job, failed after 8 of its 45 frames
    job = BatchJob(name="j", inputs=[f"{i}.png" for i in range(12)], output_dir="o", factor=4)
    job.status, job.frames_done, job.error = JobStatus.FAILED, 8, "FrameError: f003.png: truncated"
    row = fmt.job_row(job)
    assert 'data-status="failed"' in row and "8/45" in row and 'style="width:17.8%"' in row
    stats = Stats(total=1, failed=1, frames_done=8, frames_total=45, progress=8 / 45, eta_seconds=0.0, state="ready")
    html_ = fmt.stats_summary(stats)
    tile = lambda key: re.search(rf'data-key="{key}".*?gvl-tile-value">([^<]*)<', html_).group(1)  # noqa: E731
    assert (tile("progress"), tile("eta"), tile("frames")) == ("18 %", "1 failed", "8 / 45")


def test_workers_table_with_and_without_gpu():
    cpu = WorkerRow("w0", "tcp://127.0.0.1:1", 2, 1, 87.5, 500_000_000, 2_000_000_000)
    html_ = fmt.workers_table([cpu])
    balanced(html_)
    assert "GPU" not in html_ and "88 %" in html_ and "500.0 MB / 2.0 GB" in html_ and "width:25.0%" in html_
    gpu = WorkerRow(
        EVIL,
        "tcp://x:2",
        1,
        0,
        3.0,
        1,
        None,
        gpu_utilization=55.0,
        gpu_memory=4_000_000_000,
        gpu_memory_total=80_000_000_000,
    )
    html_ = fmt.workers_table([cpu, gpu])
    balanced(html_)
    assert '<th class="gvl-num">GPU</th>' in html_ and "55 %" in html_ and "4.0 GB / 80.0 GB" in html_
    assert "&lt;img" in html_
    assert "No workers" in fmt.workers_table([])


def test_stylesheet_uses_theme_variables():
    css = stylesheet()
    for var in ("--jp-ui-font-color1", "--jp-layout-color1", "--jp-border-color2", "--jp-error-color1"):
        assert var in css
    # every colour is a theme variable (with a fallback), never a bare colour a dark theme cannot change
    for decl in re.findall(r"(?:^|;|\{)\s*(?:color|background)\s*:\s*([^;}]+)", css):
        assert decl.strip().startswith("var(--jp-"), decl
    assert style_tag().startswith("<style>")


@pytest.mark.parametrize("status", list(JobStatus))
def test_every_status_has_a_style(status):
    assert f".gvl-status-{status.value}" in stylesheet()
    assert JobPriority.parse("urgent") == JobPriority.URGENT


def test_short_message_keeps_file_names_and_reasons():
    """The error column (issue 11.4): the file name and the reason, not the directory."""
    frame = "FrameError: /tmp/ce8f1/data/a/OR_ABI-L2-CMIPC-M6C13_G16_s2023.png: truncated PNG (file ends early)"
    assert (
        fmt.short_message(frame) == "FrameError: OR_ABI-L2-CMIPC-M6C13_G16_s2023.png: truncated PNG (file ends early)"
    )
    conflict = (
        "OutputConflict: /home/me/out/seq-a already holds another result (finished linear ×2 from job abc: "
        "factor 2 → 4, method linear → flow); nothing was replaced. Set settings overwrite=True"
    )
    assert fmt.short_message(conflict).startswith(
        "OutputConflict: seq-a already holds another result (finished linear ×2 from job abc: factor 2 → 4"
    )
    assert fmt.short_message("duplicate input skipped: /x/y/a.png (same content as /x/y/b.png)") == (
        "duplicate input skipped: a.png (same content as b.png)"
    )
    assert fmt.short_message("FrameError: C:\\data\\goes\\f1.nc: not NetCDF") == "FrameError: f1.nc: not NetCDF"
    assert fmt.short_message("x: ~/data/f.png: bad\nTraceback (most recent call last):") == "x: f.png: bad"
    # what is not a path stays: rates, URLs, relative names
    kept = "12 frames/s from tcp://127.0.0.1:8786, see out/seq-a"
    assert fmt.short_message(kept) == kept
    assert fmt.short_message(None) == "" and fmt.short_message("") == ""


def test_job_note_shows_errors_of_failed_jobs_and_notes_of_others():
    job = BatchJob(name="j", inputs=["a.png", "b.png"], output_dir="o", factor=2)
    assert fmt.job_note(job) == ("", "", "")
    job.status, job.error = JobStatus.FAILED, "FrameError: /tmp/q/b.png: truncated PNG"
    assert fmt.job_note(job) == ("error", "FrameError: b.png: truncated PNG", job.error)
    # a job that found its result already there says so, even after other notes
    done = BatchJob(name="k", inputs=["a.png", "b.png"], output_dir="o", factor=2)
    done.status = JobStatus.COMPLETED
    done.notes = [
        "duplicate input skipped: /d/c.png (same content as /d/b.png)",
        "skipped: complete from job 1f2e3d (same settings)",
    ]
    kind, short, full = fmt.job_note(done)
    assert (kind, short) == ("note", "skipped: complete from job 1f2e3d (same settings)")
    assert full == "\n".join(done.notes)
    waiting = BatchJob(name="w", inputs=["a.png", "b.png"], output_dir="o", error="waiting: /o is locked")
    assert fmt.job_note(waiting)[:2] == ("note", "waiting: o is locked")


def test_note_detail_shows_the_whole_message_escaped():
    html_ = fmt.note_detail("error", "FrameError: /tmp/<x>/b.png: truncated\nsecond line")
    balanced(html_)
    assert "/tmp/&lt;x&gt;/b.png: truncated\nsecond line" in html_ and "gvl-note-error" in html_
    assert fmt.note_detail("", "") == ""


def test_action_notes_say_when_there_was_nothing_to_do():
    assert fmt.action_note("retry_failed", 0) == "Nothing to retry: no job has failed."
    assert fmt.action_note("retry_failed", 2) == "2 failed jobs queued again."
    assert fmt.action_note("clear_completed", 0) == "Nothing to clear: no job has completed."
    assert fmt.action_note("clear_completed", 1) == (
        "1 completed job cleared from the table (its outputs stay on disk)."
    )
    assert fmt.action_note("cancel_all", 0) == "Nothing to cancel: every job has finished."
    assert fmt.action_note("cancel_all", 3) == "3 jobs cancelled."
    assert fmt.action_note("pause", None) == ""


def test_short_name_keeps_satellite_band_sector_and_time():
    """Issue 17.3: names shortened from the middle, not cut where the scan time is; the whole name on hover."""
    seq = "G16-L2-CMIP-C-C13-20240516T1801"
    assert fmt.short_name(seq, 32) == seq  # fits: as it is
    assert fmt.short_name(seq + "-png", 32) == seq + "…"
    assert fmt.short_name(seq, 24) == "G16…-C-C13-20240516T1801"
    assert fmt.short_name("G17-L1b-Rad-F-C02-20240516T1801-png", 26) == "G17…-F-C02-20240516T1801…"
    abi = "OR_ABI-L2-CMIPC-M6C13_G16_s20241371801176_e20241371803549_c20241371804012.nc"
    assert fmt.short_name(abi, 50) == "OR_ABI-L2-CMIPC-M6C13_G16_s20241371801176….nc"
    assert fmt.short_name(abi, 30) == "…CMIPC…C13_G16_s20241371801176…"  # the kept parts, however short asked
    other = "a-long-name-of-some-folder-of-frames"
    assert fmt.short_name(other, 20) == "a-long-na…-of-frames" and len(fmt.short_name(other, 20)) == 20
    span = fmt.short_name_html("x<y" * 20, 10)
    assert 'title="' + "x&lt;y" * 20 + '"' in span and "<y" not in span
    cap = fmt.thumb_caption("first", "/d/" + abi)
    assert (
        'title="/d/' + abi + '"' in cap
        and ">first<" in cap
        and "G16_s20241371801176" in cap
        and "/d/" not in cap.split(">", 1)[1]
    )
    table = fmt.sequences_table([_seq(seq + "-png")])
    assert f'title="{seq}-png"' in table and f">{seq}…<" in table and ">size<" in table
    job = BatchJob(name="G18-L2-CMIP-C-C13-20240516T1801-png", inputs=["a", "b"], output_dir="o", factor=2)
    assert ">G18…-C-C13-20240516T1801…<" in fmt.job_row(
        job
    ) and 'title="G18-L2-CMIP-C-C13-20240516T1801-png' in fmt.job_row(job)


def test_scan_range_in_one_cell():
    t0 = datetime(2024, 5, 16, 18, 1, tzinfo=timezone.utc)
    assert fmt.fmt_scan_range(t0, t0 + timedelta(minutes=55)) == "2024-05-16 18:01 – 18:56"
    assert fmt.fmt_scan_range(t0, t0 + timedelta(hours=8)) == "2024-05-16 18:01 – 2024-05-17 02:01"
    assert fmt.fmt_scan_range(None, None) == fmt.DASH
