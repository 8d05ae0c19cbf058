"""End to end in a real JupyterLab: ``gl.lab()`` on NOAA's archive, served by moto on 127.0.0.1, in headless Chromium.

A real S3-compatible server (moto in server mode, as tests/test_archive.py starts it) holds five GOES-19 CONUS
band-13 scans of NOAA's structure under NOAA's keys. The JupyterLab server's environment points the package at it
(``DASK_GOESVFI__ARCHIVE__ENDPOINT_URL``, and a cache folder of the test's own), so the kernel and the workers of
its LocalCluster read the archive there. In the browser the app switches its source to the NOAA archive, counts
the scans and their size with nothing downloaded (the server's request log says so), previews them (the three
thumbnail frames downloaded, no more), confirms, and the job completes, the workers downloading the other two.
Screenshots go where tests/test_lab_browser.py puts its own (``build/screenshots/`` or ``$GOESVFI_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _lab_harness import CHROMIUM, CHROMIUM_ARGS, LabServer, browser_available

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("GOESVFI_SCREENSHOTS", REPO / "build" / "screenshots"))
START = datetime(2025, 6, 1, 18, 1, 17, 100_000, tzinfo=timezone.utc)  # GOES-East is G19 then
N = 5
CELLS = [
    """import goesvfi_lab as gl

app = gl.lab(output_dir="out", store="queue.sqlite3")
app""",
]

_missing = browser_available()
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"browser test cannot run under CI: {_missing}")
if _missing:
    pytest.skip(_missing, allow_module_level=True)


class ArchiveLab(LabServer):
    """The harness's JupyterLab with the archive settings in its environment (kernels and workers inherit it)."""

    def __init__(self, base: Path, notebook_dir: Path, extra: dict[str, str]) -> None:
        super().__init__(base, notebook_dir)
        self.extra = extra

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    from _s3_server import S3Server
    from goes_fixtures import make_abi_sequence, require_ncgen

    require_ncgen()
    work = tmp_path_factory.mktemp("s3-lab")
    paths = make_abi_sequence(work / "files", n=N, start=START, shape=(240, 400), satellite="G19")
    objects = {f"noaa-goes19/ABI-L2-CMIPC/{START:%Y/%j/%H}/{p.name}": p.read_bytes() for p in paths}
    server = S3Server(work).start()
    server.put(objects)
    yield {"server": server, "objects": objects}
    server.stop()


@pytest.fixture(scope="module")
def lab(s3, tmp_path_factory):
    from test_lab_browser import write_notebook

    base = tmp_path_factory.mktemp("lab-archive")
    work = base / "notebooks"
    work.mkdir()
    write_notebook(work / "archive.ipynb", CELLS)
    env = {
        "DASK_GOESVFI__ARCHIVE__ENDPOINT_URL": s3["server"].url,
        "DASK_GOESVFI__ARCHIVE__CACHE": str(base / "archive-cache"),
        "DASK_GOESVFI__ARCHIVE__MIN_FREE": "0",
    }
    with ArchiveLab(base / "jupyter", work, env) as srv:
        yield srv


def test_lab_counts_previews_and_runs_archive_scans(lab, s3):
    from playwright.sync_api import sync_playwright
    from test_lab_browser import AppView

    t0 = time.monotonic()
    server = s3["server"]
    keys = sorted(k.split("/", 1)[1] for k in s3["objects"])
    total = sum(len(b) for b in s3["objects"].values())
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1400, "height": 1400})
        page = context.new_page()
        page.set_default_timeout(30_000)
        shots = SHOTS
        try:
            page.goto(f"{lab.url}/lab/workspaces/archive/tree/archive.ipynb?reset&token={lab.token}")
            page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=90_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
            app = AppView(page, 0, shots)
            app.until("!!app.querySelector('.gvl-count')", "the local folder's count", timeout=120_000)

            # 1 · the source switch: the archive's fields, a live count of scans and bytes, nothing downloaded
            app.click(".gvl-source", "NOAA archive")
            app.until(
                "(app.querySelector('.gvl-archive-endpoint')?.textContent || '').includes(arg)",
                "the endpoint note",
                arg=server.url,
            )
            times = app.root.locator(".gvl-filter .widget-hbox:has(label:text-is('Scans (UTC)')) input")
            times.nth(0).fill("2025-06-01 18:00")
            times.nth(1).fill("2025-06-01 18:30")
            times.nth(1).press("Enter")
            app.until(
                "app.querySelector('.gvl-count[data-source=\"archive\"]')?.dataset.count === '5'",
                "the archive count of 5 scans",
            )
            count = app.root.locator(".gvl-match-count").inner_text()
            assert "5 scans in 1 sequence" in count and "nothing downloaded yet" in count, count
            assert "GOES-East is G19 from 2025-04-07" in count, count
            assert app.value("+app.querySelector('.gvl-count').dataset.bytes") == total
            assert app.root.locator(".gvl-local-fields").is_hidden()
            assert server.object_gets() == {}  # counted from the listing alone
            app.shot(shots / "08-archive-source.png")

            # 2 · preview: the thumbnails download their three frames, no more
            app.click(".gvl-filter", "Preview")
            app.until(
                "[...app.querySelectorAll('img.gvl-thumb-img')].every(i => i.complete && i.naturalWidth > 0)"
                " && app.querySelectorAll('img.gvl-thumb-img').length === 3",
                "three thumbnails",
                timeout=60_000,
            )
            fetched = server.object_gets()
            assert sorted(k.split("/", 1)[1] for k in fetched) == [keys[0], keys[2], keys[4]], fetched
            app.select(".gvl-preview", "Method", "linear")
            app.until(
                "(app.querySelector('.gvl-estimate')?.textContent || '').includes('ms per frame')", "the estimate"
            )
            assert "1 job, 17 frames to write" in app.root.locator(".gvl-estimate").inner_text()
            app.shot(shots / "08-archive-preview.png")

            # 3 · confirm: the job completes; the workers downloaded the two scans the preview did not
            app.click(".gvl-preview", "Confirm")
            app.until(
                "n('completed') === 1 && n('running') === 0 && n('pending') === 0", "the job done", timeout=120_000
            )
            assert app.value("n('failed')") == 0
            assert app.root.locator(".gvl-errors").inner_text().strip() == ""
            app.shot(shots / "08-archive-finished.png")
        finally:
            context.close()
            chromium.close()
    gets = server.object_gets()
    assert sorted(k.split("/", 1)[1] for k in gets) == keys and set(gets.values()) == {1}, gets  # each once
    (job,) = [d for d in (lab.notebook_dir / "out").iterdir() if d.is_dir()]
    assert job.name.startswith("G19-L2-CMIP-C-C13") and len(list(job.glob("0*.png"))) == 17
    assert (job / "video.mp4").stat().st_size > 1000
    assert time.monotonic() - t0 < 240
