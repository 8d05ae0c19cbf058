"""The filter panel's NOAA archive source, kernel-free, against a real S3-compatible server (moto) on 127.0.0.1.

The panels run on a recording comm (tests/_widget_wire.py) and talk HTTP to the server through s3fs, as in the
notebook; the server's request log says what was listed and downloaded: the count lists the one hour folder
and downloads nothing, the preview downloads the three frames its thumbnails show, Confirm makes jobs whose
inputs are the archive's ``s3://`` URLs, planned as local sequences are.
"""

from __future__ import annotations

import html
import os
from datetime import datetime, timedelta, timezone

import dask.config
import pytest
from _s3_server import S3Server, free_port
from _widget_wire import install
from goes_fixtures import make_abi_sequence, require_ncgen

from goesvfi_lab import archive, config  # noqa: F401 (config: defaults loaded before dask.config.set below)
from goesvfi_lab.widgets.filter_panel import FilterPanel
from goesvfi_lab.widgets.preview_panel import PreviewPanel
from goesvfi_lab.widgets.state import ArchiveState, FilterState, default_range, make_jobs, scan, timing_pair

START = datetime(2025, 6, 1, 18, 1, 17, 100_000, tzinfo=timezone.utc)  # GOES-East is G19 then
N = 5


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    require_ncgen()
    work = tmp_path_factory.mktemp("s3-widgets")
    objects = {}
    for band in (13, 14):
        for p in make_abi_sequence(work / f"b{band}", n=N, band=band, start=START, shape=(60, 100), satellite="G19"):
            objects[f"noaa-goes19/ABI-L2-CMIPC/{START:%Y/%j/%H}/{p.name}"] = p.read_bytes()
    server = S3Server(work).start()
    server.put(objects)
    yield {"server": server, "objects": objects}
    server.stop()


@pytest.fixture
def endpoint(s3, tmp_path):
    values = {"endpoint-url": s3["server"].url, "cache": str(tmp_path / "cache"), "min-free": 0, "timeout": 5}
    with dask.config.set({f"goesvfi.archive.{k}": v for k, v in values.items()}):
        yield s3["server"]


@pytest.fixture
def wire(monkeypatch):
    return install(monkeypatch)


def _choose(wire, widget, value) -> None:
    """What the browser sends for a choice: a selection widget's index, a text's value."""
    if hasattr(widget, "options"):
        wire.set(widget, index=[v for _, v in widget.options].index(value))
    else:
        wire.set(widget, value=value)


def _archive(panel: FilterPanel, wire, **fields) -> None:
    for name, value in fields.items():
        _choose(wire, getattr(panel, name), value)
    assert panel.wait(30)


def _our_hour(panel: FilterPanel, wire) -> None:
    _choose(wire, panel.source, "archive")
    _archive(panel, wire, start="2025-06-01 18:00", end="2025-06-01 18:30")


def test_source_switch_counts_archive_scans_and_their_size_before_downloading(wire, endpoint, s3, sample_nc):
    panel = FilterPanel(root=os.path.dirname(sample_nc[0]), debounce=0.05)
    assert panel.wait()
    assert 'data-count="12"' in panel.count.value and panel.archive_fields.layout.display == "none"
    lists, gets = endpoint.listing_requests(), endpoint.object_gets()

    _choose(wire, panel.source, "archive")
    assert panel.wait(30)
    # the archive's fields, the local folder's hidden; dropdowns without "any", the last full hour typed in
    assert panel.local_fields.layout.display == "none" and panel.archive_fields.layout.display == "flex"
    assert panel.every_row.layout.display == "flex" and endpoint.url in panel.endpoint.value
    assert [v for _, v in panel.satellite.options][:2] == ["GOES-East", "GOES-West"]
    assert (panel.satellite.value, panel.band.value, panel.sector.value, panel.product.value) == (
        "GOES-East",
        13,
        "C",
        "CMIP",
    )
    assert (panel.start.value, panel.end.value) == default_range()
    assert 'data-count="0"' in panel.count.value and panel.next.disabled  # nothing in the test bucket then
    lists = endpoint.listing_requests()

    _archive(panel, wire, start="2025-06-01 18:00", end="2025-06-01 18:30")
    band13 = {k: len(v) for k, v in s3["objects"].items() if "M6C13" in k}
    assert 'data-count="5"' in panel.count.value and f'data-bytes="{sum(band13.values())}"' in panel.count.value
    assert "5 scans in 1 sequence" in panel.count.value and "nothing downloaded yet" in panel.count.value
    assert "GOES-East is G19 from 2025-04-07 00:00 UTC" in panel.count.value  # what GOES-East was resolved to
    result = panel.result
    assert result.paths == [f"s3://{k}" for k in sorted(band13)] and result.size_bytes == sum(band13.values())
    assert {s.size for s in result.remote.values()} == set(band13.values()) and not panel.next.disabled
    assert endpoint.object_gets() == gets  # counting downloaded nothing
    made = endpoint.listing_requests() - lists
    assert made == {"noaa-goes19/ABI-L2-CMIPC/2025/152/18/OR_ABI-L2-CMIPC-M": 1}  # one folder, one request

    _archive(panel, wire, band=14)
    assert 'data-count="5"' in panel.count.value and all("M6C14" in p for p in panel.result.paths)
    _archive(panel, wire, every="10min", band=13)
    assert 'data-count="3"' in panel.count.value  # 18:01, 18:11, 18:21 of 18:01 … 18:21 every 5 min
    assert [s.missing for s in panel.result.sequences] == [[]]  # the thinned cadence: no gaps

    _choose(wire, panel.source, "local")  # back: the folder's count, "any" choices again, values kept
    assert panel.wait()
    assert panel.local_fields.layout.display == "flex" and panel.archive_fields.layout.display == "none"
    assert ("any", "") in panel.satellite.options and panel.band.value == 13 and panel.satellite.value == ""
    assert panel.result.remote == {} and "data-source" not in panel.count.value


def test_form_mistakes_name_the_field_without_a_request(wire, endpoint):
    panel = FilterPanel(debounce=0.05, source="archive")
    assert panel.wait(30) and panel.source.value == "archive"
    before = endpoint.listing_requests()
    _archive(panel, wire, start="2025-06-01 18:30", end="2025-06-01 18:00")
    assert "scan times: start is not before end" in panel.count.value and panel.next.disabled
    _archive(panel, wire, end="2025-06-01 19:00", every="often")
    assert "every: 'often' is not a step like 10min" in html.unescape(panel.count.value)
    _archive(panel, wire, every="", start="noon")
    assert "scan start: 'noon' is not a date-time" in html.unescape(panel.count.value)
    _archive(panel, wire, start="2024-06-01 18:00")  # a start typed before the end: a year of hour folders
    assert "more than the" in panel.count.value and "goesvfi-lab fetch" in panel.count.value
    assert endpoint.listing_requests() == before  # refused before any request
    with pytest.raises(ValueError, match="give a start and an end"):
        ArchiveState(start="2025-06-01").to_query()
    with pytest.raises(ValueError, match="source must be 'local' or 'archive', not 's3'"):
        FilterPanel(source="s3")


def test_typing_in_the_archive_form_lists_once_after_the_pause(wire, endpoint):
    panel = FilterPanel(debounce=0.3, source="archive")
    assert panel.wait(30)
    calls, before = panel._scanner.calls, endpoint.listing_requests()
    for text in ("2025-06-01 1", "2025-06-01 18", "2025-06-01 18:0", "2025-06-01 18:00"):
        wire.set(panel.start, value=text)  # keystrokes closer together than the debounce
    wire.set(panel.end, value="2025-06-01 18:59")
    assert panel.wait(30)
    assert panel._scanner.calls == calls + 1 and 'data-count="5"' in panel.count.value
    assert sum((endpoint.listing_requests() - before).values()) == 1  # one hour folder, one request


def test_an_unreachable_endpoint_is_a_clear_count_not_a_traceback(wire, endpoint):
    with dask.config.set(
        {"goesvfi.archive.endpoint-url": f"http://127.0.0.1:{free_port()}", "goesvfi.archive.timeout": 2}
    ):
        panel = FilterPanel(debounce=0.05, source="archive")
        _archive(panel, wire, start="2025-06-01 18:00", end="2025-06-01 18:30")
    assert "Listing the archive failed" in panel.count.value and "listing failed" in panel.count.value
    assert panel.next.disabled and panel.errors.history == []  # said in the count, no traceback panel


def test_preview_fetches_only_its_thumbnails_and_confirm_makes_remote_jobs(wire, endpoint, s3, tmp_path):
    flt = FilterPanel(debounce=0.05)
    _our_hour(flt, wire)
    result = flt.result
    gets = endpoint.object_gets()
    submitted = []
    panel = PreviewPanel(
        output_dir=str(tmp_path / "out"),
        on_confirm=lambda jobs: submitted.extend(jobs) or "ok",
        methods=["linear"],
        measure=lambda *a: 0.01,
    )
    panel.show(result)
    assert panel.wait(60)
    fetched = endpoint.object_gets() - gets
    urls = result.paths
    shown = [urls[0], urls[2], urls[4]]  # first, middle, last
    assert set(fetched) == {u[len("s3://") :] for u in shown} and set(fetched.values()) == {1}, fetched
    assert timing_pair(urls, result.remote) == (urls[0], urls[2])  # the estimate times frames already fetched
    assert all(img.value[:8] == b"\x89PNG\r\n\x1a\n" for img in panel.images)
    assert [os.path.basename(u) in cap.value for u, cap in zip(shown, panel.captions, strict=True)] == [True] * 3
    assert panel.last_estimate is not None and panel.last_estimate.jobs == 1 and panel.last_estimate.frames_total == 17
    assert panel.check.done and not panel.check.bad_files  # remote inputs are not "missing files"
    with archive.Cache() as cache:
        assert [p is not None for p in cache.status(result.remote[u] for u in urls)] == [True, False, True, False, True]

    wire.click(panel.confirm)
    (job,) = submitted
    assert job.inputs == urls and job.factor == 4 and job.method == "linear"
    assert set(endpoint.object_gets() - gets) == set(fetched)  # Confirm downloads nothing: the workers will

    # the same planner as local files: fetched into a folder, the same scans plan the same job folder
    local = tmp_path / "scans"
    local.mkdir()
    for url, path in zip(urls, archive.fetch(result.remote.values()).paths, strict=True):
        os.link(path, local / os.path.basename(url))
    (local_job,) = make_jobs(scan(FilterState(root=str(local))).sequences, panel.settings())
    assert os.path.basename(local_job.output_dir) == os.path.basename(job.output_dir) == job.name
    assert job.settings == local_job.settings


def test_the_archive_form_resolves_a_range_across_the_goes_east_switch():
    query = ArchiveState(start="2025-04-06 23:30", end="2025-04-07 00:30").to_query()
    assert query["satellite"] == "GOES-East" and query["start"].tzinfo is not None
    plan = archive.keys.plan(**query)
    assert [s.satellite for s in plan.segments] == ["G16", "G19"] and "crosses the GOES-East switch" in plan.notes[0]
    assert query["end"] - query["start"] == timedelta(hours=1)
