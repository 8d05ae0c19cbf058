"""goesvfi_lab.archive against a real S3-compatible server (moto, server mode) on 127.0.0.1: find, fetch, cache, CLI.

Buckets are named like NOAA's, keys are in NOAA's layout, and objects are NetCDF files with NOAA's structure
(tests/goes_fixtures.py: ncgen on the real headers). Nothing is mocked: s3fs talks HTTP to the server, whose
request log is what the listing counts below are read from.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dask.config
import pytest
from _s3_server import S3Server
from goes_fixtures import make_abi_file, require_ncgen

from goesvfi_lab import archive, config  # noqa: F401 (config: defaults loaded before dask.config.set below)
from goesvfi_lab.discover import format_goes_name

UTC = timezone.utc
HOUR = datetime(2024, 7, 1, 18, 1, 17, 100_000, tzinfo=UTC)  # 2024/183/18: 11 small band-13 scans, 18:26 absent
DAY = datetime(2024, 7, 2, 0, 1, 17, 100_000, tzinfo=UTC)  # 2024/184: 288 band-13 + 288 band-14 keys
BIG = datetime(2024, 7, 1, 19, 1, 17, 100_000, tzinfo=UTC)  # 2024/183/19: 2 full-size CONUS scans (~11 MB)
SWITCH = datetime(2025, 4, 7, tzinfo=UTC)


def _key(path: Path, when: datetime) -> str:
    return f"ABI-L2-CMIPC/{when:%Y/%j/%H}/{path.name}"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """One server for the module, filled once: {"server", "objects": {"bucket/key": bytes}}."""
    require_ncgen()
    work = tmp_path_factory.mktemp("s3")
    files = work / "files"
    for sub in ("day", "big", "G16", "G19"):
        (files / sub).mkdir(parents=True)
    objects: dict[str, bytes] = {}

    def add(bucket: str, path: Path, when: datetime) -> None:
        objects[f"{bucket}/{_key(path, when)}"] = path.read_bytes()

    for k in range(12):
        when = HOUR + timedelta(minutes=5 * k)
        if when.minute == 26:
            continue  # a gap in the archive
        for band in (13, 14):
            add("noaa-goes16", make_abi_file(files, band=band, start=when, shape=(60, 100)), when)
    template = make_abi_file(files / "day", band=13, start=DAY, shape=(30, 50)).read_bytes()
    for k in range(288):
        when = DAY + timedelta(minutes=5 * k)
        for band in (13, 14):  # one real file's bytes under each name: the listing is what is tested here
            name = format_goes_name(
                "G16", "CMIP", "C", band, when, when + timedelta(seconds=157), when + timedelta(seconds=162)
            )
            objects[f"noaa-goes16/ABI-L2-CMIPC/{when:%Y/%j/%H}/{name}"] = template
    for k in range(2):
        when = BIG + timedelta(minutes=5 * k)
        add("noaa-goes16", make_abi_file(files / "big", band=13, start=when, shape=(1500, 2500)), when)
    for sat, first, n in (
        ("G16", SWITCH - timedelta(minutes=18, seconds=43), 8),
        ("G19", SWITCH + timedelta(seconds=77), 4),
    ):
        for k in range(n):
            when = first + timedelta(minutes=5 * k)
            path = make_abi_file(files / sat, band=13, start=when, shape=(30, 50), satellite=sat)
            add(f"noaa-goes{sat[1:]}", path, when)
    server = S3Server(work).start()
    server.put(objects)
    yield {"server": server, "objects": objects, "work": work}
    server.stop()


@pytest.fixture
def settings(s3, tmp_path):
    """The archive pointed at the test server, a fresh cache, quick retries (in this process and in children)."""
    values = {
        "endpoint-url": s3["server"].url,
        "cache": str(tmp_path / "cache"),
        "min-free": 0,
        "retry-base": 0.05,
        "retry-cap": 0.2,
        "timeout": 5,
    }
    env = {**os.environ, **{f"DASK_GOESVFI__ARCHIVE__{k.upper().replace('-', '_')}": str(v) for k, v in values.items()}}
    with dask.config.set({f"goesvfi.archive.{k}": v for k, v in values.items()}):
        yield {"env": env, "cache": tmp_path / "cache", "tmp": tmp_path}


def _cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "goesvfi_lab", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _hour_args(out: Path) -> list[str]:
    return ["fetch", "--satellite", "G16", "--sector", "C", "--band", "13", "--start", "2024-07-01T18:00"] + [
        "--end",
        "2024-07-01T18:59",
        "-o",
        str(out),
    ]


# --------------------------------------------------------------------------------------------------
# find


def test_find_lists_one_band_sorted_and_gaps_are_missing_scans(s3, settings):
    scans = archive.find(
        satellite="G16", product="ABI-L2-CMIP", sector="C", band=13, start=HOUR, end="2024-07-01T20:30"
    )
    # 18h: 12 slots less 18:26; 19h: the 2 big scans; 20h: no such folder, not an error
    assert len(scans) == 13 and scans.folders == 3
    assert [s.start for s in scans] == sorted(s.start for s in scans) and {s.band for s in scans} == {13}
    first = scans[0]
    assert (first.satellite, first.product, first.sector, first.mode, first.band) == ("G16", "ABI-L2-CMIP", "C", 6, 13)
    assert first.size == len(s3["objects"][first.path]) and first.end > first.start
    seqs = archive.sequences(scans)
    assert len(seqs) == 1 and [f"{t:%H:%M}" for t in seqs[0].missing] == ["18:26"]
    assert seqs[0].size_bytes == scans.total_bytes


def test_day_of_conus_band_13_lists_with_one_request_per_hour_folder(s3, settings):
    server = s3["server"]
    before = server.listing_requests()
    scans = archive.find(satellite="G16", sector="C", band=13, start="2024-07-02", end="2024-07-02")
    made = server.listing_requests() - before
    assert len(scans) == 288 and len({s.key for s in scans}) == 288
    day = {p: n for p, n in made.items() if "/2024/184/" in p}
    assert len(day) == 24 and set(day.values()) == {1}, day  # 24 hour folders, one request each
    assert sum(made.values()) == 24 and scans.requests == 24
    print(f"\nlisting one day of CONUS band 13: {len(scans)} keys, {sum(made.values())} requests, 24 hour folders")
    tenth = archive.find(satellite="G16", sector="C", band=13, start="2024-07-02", end="2024-07-02", every="10min")
    assert len(tenth) == 144 and all(s.start.minute % 10 == 1 for s in tenth)
    assert archive.sequences(tenth)[0].missing == []  # the thinned cadence, not 5 min


def test_range_across_the_g16_g19_switch_says_what_it_chose(s3, settings):
    scans = archive.find(satellite="GOES-East", sector="C", band=13, start="2025-04-06T23:40", end="2025-04-07T00:20")
    assert any("crosses the GOES-East switch (G16 -> G19 at 2025-04-07 00:00 UTC)" in n for n in scans.notes)
    assert [s.satellite for s in scans] == ["G16"] * 4 + ["G19"] * 4
    assert all(s.start < SWITCH for s in scans if s.satellite == "G16")  # G16's scans after the switch left out
    assert {s.bucket for s in scans} == {"noaa-goes16", "noaa-goes19"}
    assert [seq.key[0] for seq in archive.sequences(scans)] == ["G16", "G19"]
    out = _cli("fetch", "--satellite", "GOES-East", "--band", "13", "--start", "2025-04-06T23:40", "--end",
               "2025-04-07T00:20", "--list", env=settings["env"])  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "note: the range crosses the GOES-East switch" in out.stdout and "found 8 scans" in out.stdout


def test_bad_queries_are_clear_errors(s3, settings):
    with pytest.raises(ValueError, match="unknown satellite 'G15'"):
        archive.find(satellite="G15", sector="C", band=13, start=HOUR, end="2024-07-01T19:00")
    with pytest.raises(ValueError, match="empty time range"):
        archive.find(satellite="G16", sector="C", band=13, start="2024-07-01T19:00", end="2024-07-01T18:00")
    empty = archive.find(satellite="G16", sector="C", band=13, start="2024-07-03T18:00", end="2024-07-03T19:00")
    assert empty == [] and "no ABI-L2-CMIPC scans of G16" in empty.notes[0]  # no such folders: not an error
    with pytest.raises(archive.ArchiveError, match="s3://noaa-goes17: bucket not found at http://127.0.0.1"):
        archive.find(satellite="G17", sector="C", band=13, start="2024-07-01T18:00", end="2024-07-01T19:00")
    out = _cli("fetch", "--satellite", "G16", "--band", "99", "--start", "2024-07-01", "--end", "2024-07-01", "--list",
               env=settings["env"])  # fmt: skip
    assert out.returncode == 1 and "error: unknown ABI band '99'" in out.stderr


# --------------------------------------------------------------------------------------------------
# fetch and the cache


def test_cli_fetch_downloads_then_finds_everything_cached(s3, settings):
    out = settings["tmp"] / "out"
    first = _cli(*_hour_args(out), env=settings["env"])
    assert first.returncode == 0, first.stderr
    assert "found 11 scans" in first.stdout and ": 1 scan missing in the archive (2024-07-01 18:26)" in first.stdout
    assert "downloaded 11, 0 already cached" in first.stdout
    files = sorted(out.iterdir())
    assert len(files) == 11
    for f in files:
        assert _md5(f.read_bytes()) == _md5(s3["objects"][f"noaa-goes16/ABI-L2-CMIPC/2024/183/18/{f.name}"])
    gets = s3["server"].object_gets()
    second = _cli(*_hour_args(out), env=settings["env"])
    assert second.returncode == 0, second.stderr
    assert "downloaded 0, 11 already cached" in second.stdout
    assert s3["server"].object_gets() == gets  # not one object GET the second time
    # the folder is local scans like any other: `missing` finds the gap the archive listing reported
    missing = _cli("missing", str(out), env=settings["env"])
    assert missing.returncode == 0 and "1 missing scans" in missing.stdout
    from goesvfi_lab.frames import read_frame

    frame = read_frame(files[0])
    assert frame.shape == (60, 100) and 180 < float(frame[30, 50]) < 330  # Kelvin from NOAA's CMI packing


def test_truncated_cached_file_is_refetched(s3, settings):
    scans = archive.find(satellite="G16", sector="C", band=13, start=HOUR, end="2024-07-01T18:30")
    report = archive.fetch(scans)
    assert report.downloaded == len(scans) == 5 and report.cached == 0
    victim = report.paths[2]
    victim.write_bytes(victim.read_bytes()[:1000])  # a truncated file in the cache
    with archive.Cache() as cache:
        assert cache.lookup(scans[2]) is None and cache.lookup(scans[1]) == report.paths[1]
        again = cache.fetch(scans)
    assert (again.downloaded, again.refetched, again.cached) == (1, 1, 4)
    assert victim.read_bytes() == s3["objects"][scans[2].path]


def test_cache_limit_evicts_least_recently_used(s3, settings):
    scans = archive.find(satellite="G16", sector="C", band=13, start=HOUR, end="2024-07-01T18:59")
    size = max(s.size for s in scans)
    with archive.Cache(max_bytes=4 * size) as cache:
        for scan in scans[:3]:
            cache.fetch([scan])
        cache.fetch(scans[:1])  # scan 0 used again: scans 1 and 2 are now the least recently used
        report = cache.fetch(scans[3:5])
        assert report.evicted == 1 and cache.total_bytes() <= 4 * size
        assert [p is not None for p in cache.status(scans[:5])] == [True, False, True, True, True]
        with pytest.raises(archive.CacheFullError, match="more than the cache limit"):
            cache.fetch(scans)


def test_full_cache_disk_is_a_clear_error_and_leaves_nothing(s3, settings):
    scans = archive.find(satellite="G16", sector="C", band=13, start=HOUR, end="2024-07-01T18:10")
    with archive.Cache(min_free=1 << 60) as cache, pytest.raises(archive.CacheFullError) as info:
        cache.fetch(scans)
    assert scans[0].url in str(info.value) and "no room" in str(info.value)
    assert not [p for p in settings["cache"].rglob("*.nc*")]  # no file, no part


def test_disk_refusing_a_write_mid_download_is_a_clear_error_and_leaves_nothing(s3, settings):
    """A real refused write: the child's file-size limit (RLIMIT_FSIZE) makes the kernel fail the part's
    write past 1 MB (EFBIG, the same path as ENOSPC) while the 11 MB scan downloads."""
    resource = pytest.importorskip("resource")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # Python ignores SIGXFSZ: writes fail

    args = ["fetch", "--satellite", "G16", "--band", "13", "--start", "2024-07-01T19:00", "--end", "2024-07-01T19:03",
            "-o", str(settings["tmp"] / "out")]  # fmt: skip
    env = {**settings["env"], "DASK_GOESVFI__ARCHIVE__CHUNK_BYTES": str(1 << 18)}
    done = subprocess.run([sys.executable, "-m", "goesvfi_lab", *args], env=env, capture_output=True, text=True,
                          timeout=120, preexec_fn=limit)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "s3://noaa-goes16/ABI-L2-CMIPC/2024/183/19/OR_ABI-L2-CMIPC-M6C13_G16_s2024183190117" in done.stderr
    assert "the cache disk at" in done.stderr and "is full" in done.stderr
    assert list(settings["cache"].rglob("*.nc*")) == [] and list((settings["tmp"] / "out").glob("*")) == []


def _wait_for_part(cache: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for part in cache.rglob(".*.part"):
            if part.stat().st_size > 0:
                return part
        time.sleep(0.005)
    raise AssertionError(f"no download started under {cache} within {timeout} s")


@pytest.mark.slow
def test_kill_mid_download_then_rerun_completes_intact(s3, settings):
    out = settings["tmp"] / "big"
    env = {**settings["env"], "DASK_GOESVFI__ARCHIVE__CHUNK_BYTES": str(1 << 16)}
    args = ["fetch", "--satellite", "G16", "--band", "13", "--start", "2024-07-01T19:00", "--end", "2024-07-01T19:30",
            "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "goesvfi_lab", *args], env=env, stdout=subprocess.PIPE, text=True)
    try:
        part = _wait_for_part(settings["cache"])
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    size_at_kill = part.stat().st_size
    big = [p for p in s3["objects"] if "/2024/183/19/" in p]
    assert 0 < size_at_kill < max(len(s3["objects"][p]) for p in big)
    for f in settings["cache"].rglob("OR_*.nc"):  # whatever has its real name is complete
        assert f.read_bytes() == s3["objects"][str(f.relative_to(settings["cache"]))]
    again = _cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert "resumed" in again.stdout
    for p in big:
        assert (out / p.rsplit("/", 1)[1]).read_bytes() == s3["objects"][p]
    assert not list(settings["cache"].rglob(".*.part"))


@pytest.mark.slow
def test_two_processes_fetching_the_same_scans_download_each_once(s3, settings):
    out_a, out_b = settings["tmp"] / "a", settings["tmp"] / "b"
    gets = s3["server"].object_gets()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "goesvfi_lab", *_hour_args(o)],
            env=settings["env"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for o in (out_a, out_b)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    new = s3["server"].object_gets() - gets
    assert len(new) == 11 and set(new.values()) == {1}  # each object fetched by one process only
    counts = [re.search(r"downloaded (\d+), (\d+) already cached", o).groups() for o, _ in outputs]
    assert sum(int(d) for d, _ in counts) == 11 and sum(int(c) for _, c in counts) == 11, counts
    for f in out_a.iterdir():
        assert f.read_bytes() == (out_b / f.name).read_bytes() == s3["objects"][f"noaa-goes16/{_key(f, HOUR)}"]


@pytest.mark.slow
def test_server_gone_mid_download_retries_then_names_the_key(s3, settings, tmp_path):
    server = S3Server(tmp_path / "flaky").start()
    big = {p: b for p, b in s3["objects"].items() if "/2024/183/19/" in p}
    server.put(big)
    try:
        values = {"endpoint-url": server.url, "chunk-bytes": 1 << 16, "retries": 3, "retry-base": 0.1}
        with dask.config.set({f"goesvfi.archive.{k}": v for k, v in values.items()}):
            scans = archive.find(satellite="G16", sector="C", band=13, start=BIG, end="2024-07-01T19:03")
            assert len(scans) == 1
            result: dict = {}

            def run() -> None:
                try:
                    result["report"] = archive.fetch(scans)
                except Exception as exc:  # the test inspects it below
                    result["error"] = exc

            worker = threading.Thread(target=run)
            worker.start()
            _wait_for_part(settings["cache"])
            server.stop()  # the server goes away mid-download
            worker.join(120)
            error = result.get("error")
            assert isinstance(error, archive.ArchiveError), result
            assert scans[0].url in str(error) and "after 3 attempts" in str(error) and "resumes" in str(error)
            assert error.transient and pickle.loads(pickle.dumps(error)).transient  # a batch retries the job
            with pytest.raises(archive.ArchiveError, match="listing failed") as listing:
                archive.find(satellite="G16", sector="C", band=13, start=BIG, end="2024-07-01T19:03")
            assert listing.value.transient
            assert archive.Cache().lookup(scans[0]) is None  # nothing under the real name
            server.start()  # back (same port, empty): fill it again and run again
            server.put(big)
            report = archive.fetch(scans)
            assert report.resumed == 1
            assert report.paths[0].read_bytes() == big[scans[0].path]
    finally:
        server.stop()


@pytest.mark.slow
def test_fetched_folder_runs_like_local_scans(s3, settings):
    scans_dir, out = settings["tmp"] / "scans", settings["tmp"] / "out"
    args = ["fetch", "--satellite", "G16", "--band", "13", "--start", "2024-07-01T18:00", "--end", "2024-07-01T18:12",
            "-o", str(scans_dir)]  # fmt: skip
    fetched = _cli(*args, env=settings["env"])
    assert fetched.returncode == 0 and "downloaded 3, 0 already cached" in fetched.stdout, fetched.stderr
    ran = _cli("run", str(scans_dir), "-o", str(out), "--method", "linear", "--workers", "1", "--threads", "1",
               "--quiet", env={**settings["env"], "COLUMNS": "220"}, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (job,) = [d for d in out.iterdir() if d.is_dir() and d.name.startswith("G16-L2-CMIP-C-C13")]
    assert (job / "job.json").exists() and len(list(job.glob("*.png"))) == 5  # 3 scans, factor 2
    checked = _cli("check", str(out), env=settings["env"])
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --------------------------------------------------------------------------------------------------
# goesvfi-lab run noaa://…: a headless batch straight from the archive

NOAA_URL = "noaa://G16/ABI-L2-CMIPC?band=13&start=2024-07-01T18:00&end=2024-07-01T18:12"


def test_cli_run_noaa_url_mistakes_are_one_clear_line(s3, settings):
    out = str(settings["tmp"] / "out")
    for args, message in (
        ([NOAA_URL, "--satellite", "G16"], "--satellite: file filters for a folder; a noaa:// query says"),
        ([NOAA_URL.replace("band=13", "band=99")], "unknown ABI band '99'"),
        ([NOAA_URL.replace("&end=2024-07-01T18:12", "")], "give end=… (ISO UTC)"),
        ([NOAA_URL, "--band", "14"], "asks for band 13, but band 14 was given as well"),
        ([str(settings["tmp"]), "--endpoint-url", "http://x"], "--endpoint-url is for a noaa:// ROOT"),
    ):
        done = _cli("run", *args, "-o", out, env=settings["env"])
        assert done.returncode == 1 and done.stderr.startswith("goesvfi-lab run: error: "), (args, done.stderr)
        assert message in done.stderr and len(done.stderr.splitlines()) == 1, (args, done.stderr)


@pytest.mark.slow
def test_cli_run_noaa_url_interpolates_straight_from_the_archive(s3, settings):
    server, out = s3["server"], settings["tmp"] / "out"
    # the endpoint by flag only: the local workers downloading the scans get it from the command
    env = {k: v for k, v in settings["env"].items() if k != "DASK_GOESVFI__ARCHIVE__ENDPOINT_URL"}
    env["COLUMNS"] = "220"
    args = ["run", NOAA_URL, "-o", str(out), "--method", "linear", "--workers", "1", "--threads", "1", "--quiet",
            "--endpoint-url", server.url]  # fmt: skip
    gets = server.object_gets()
    ran = _cli(*args, env=env, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 scans (" in ran.stdout and "the workers fetch them" in ran.stdout
    assert "fetched from the archive by 1 worker" in ran.stdout
    fetched = server.object_gets() - gets
    keys = sorted(fetched)
    assert len(keys) == 3 and set(fetched.values()) == {1}  # each scan once, by the worker
    # the job folder is the one `fetch` + `run DIR` makes for the same scans (test_fetched_folder_runs_like_local_scans)
    (job,) = [d for d in out.iterdir() if d.is_dir() and d.name.startswith("G16-L2-CMIP-C-C13")]
    assert len(list(job.glob("*.png"))) == 5  # 3 scans, factor 2
    import json

    manifest = json.loads((job / "job.json").read_text())
    assert manifest["inputs"] == [f"s3://{k}" for k in keys]  # the job names the archive, not a cache
    assert sorted(str(p.relative_to(settings["cache"])) for p in settings["cache"].rglob("OR_*.nc")) == keys

    again = _cli(*args, env=env, timeout=300)  # the same command: complete, nothing fetched again
    assert again.returncode == 0, again.stdout + again.stderr
    assert server.object_gets() - gets == fetched and "fetched from the archive" not in again.stdout
    assert re.search(r"│\s+1\s+│\s+0\s+│\s+1\s+│", again.stdout), again.stdout  # 1 job, 0 done, 1 skipped (complete)
    checked = _cli("check", str(out), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
