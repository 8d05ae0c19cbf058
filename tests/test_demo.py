"""``make demo``'s job, end to end in its own process: sample data → discovery → a prioritised batch on an
embedded LocalCluster → MP4s, with ``auto`` resolved per input (all three sequences are satellite data)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_demo_runs_the_sample_batch(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200", "DASK_TEMPORARY_DIRECTORY": str(tmp_path / "dask")}
    proc = subprocess.run(
        [sys.executable, "-m", "goesvfi_lab.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=500,
        env=env,
        check=False,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert re.search(r"frames 91/91; .* success rate 100 %", text), text[-2000:]
    rows = [line for line in text.splitlines() if re.search(r"(conus-g16|meso-g18|fulldisk-g19) .*completed", line)]
    assert len(rows) == 3 and all(" flow " in row for row in rows), "\n".join(rows)  # NetCDF and ABI PNGs: fields
    for name in ("conus-g16", "meso-g18", "fulldisk-g19"):
        assert (out / "out" / name / "video.mp4").stat().st_size > 0
