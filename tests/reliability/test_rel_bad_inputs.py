"""The bad-input corpus: every case is a job in ONE batch on a real cluster; each bad job fails with an
error naming the file and the reason (or completes, with a note, where the input can be repaired),
and the good jobs in the same batch complete. Then the store itself: corrupted, locked.

The table ``CASES`` is the closing note's list: id -> what the job is -> what must happen.
Full disk: a 192 KiB tmpfs when ``mount -t tmpfs`` works (root here), else that case is skipped and
:func:`test_full_disk_under_a_size_capped_writer` (RLIMIT_FSIZE, any user) covers the write path.
Unwritable output folder: we run as root, and chmod does not stop root, so the output folder is
placed under a regular file (ENOTDIR), which stops everyone.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np
import pytest
from _engine_support import make_frames
from _rel_support import REPO, assert_completed_on_disk, cli, leftovers

from goesvfi_lab.discover import format_goes_name, parse_goes_name
from goesvfi_lab.engine import layout
from goesvfi_lab.frames import write_png
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.sample import write_sample
from goesvfi_lab.store import Store, StoreError


@dataclass
class Case:
    id: str
    what: str
    status: JobStatus
    error: tuple[str, ...] = ()  # substrings of the job's error (the file's name and the reason)
    notes: tuple[str, ...] = ()  # substrings of one of the job's notes (repaired inputs)
    frames: int | None = None  # frames a completed job must have
    needs: str | None = None  # "tmpfs": only where a tmpfs can be mounted


FAILED, COMPLETED = JobStatus.FAILED, JobStatus.COMPLETED
CASES = [
    Case("truncated_png", "PNG cut to half its bytes", FAILED, ("f001.png", "corrupt or truncated PNG")),
    Case("zero_byte_file", "empty file named .png", FAILED, ("f001.png", "empty file (0 bytes)")),
    Case("text_named_png", "a text file named .png", FAILED, ("f001.png", "not a PNG, JPEG, TIFF or NetCDF")),
    Case("missing_file", "input deleted after the job was made", FAILED, ("f001.png", "no such file")),
    Case("directory_as_frame", "a folder where a frame should be", FAILED, ("f001.png", "is a directory")),
    Case(
        "mixed_sizes",
        "32×32 then 48×48",
        FAILED,
        ("f000.png and", "f001.png", "frame sizes differ: 32×32×3 vs 48×48×3"),
    ),
    Case(
        "mixed_channels", "RGB then grey", FAILED, ("f000.png and", "f001.png", "frame sizes differ: 32×32×3 vs 32×32")
    ),
    Case(
        "mixed_dtypes",
        "8-bit then 16-bit PNG",
        FAILED,
        ("f000.png and", "f001.png", "frame dtypes differ: uint8 vs uint16"),
    ),
    Case("single_frame", "one input", FAILED, ("f000.png", "a job needs at least two")),
    Case("empty_folder", "no inputs at all", FAILED, ("'empty_folder'", "has no input frames")),
    Case("frames_1x1", "three 1×1 frames", COMPLETED, frames=5),
    Case(
        "too_large_for_memory",
        "PNG header says 200000×200000 RGB",
        FAILED,
        ("huge.png", "111.76 GiB once decoded", "refused before reading it"),
    ),
    Case("nan_only_netcdf", "CMI all _FillValue", FAILED, ("_s2024", ".nc and", "has no valid pixels (all NaN/inf)")),
    Case(
        "netcdf_without_variable",
        "NetCDF holding only 'foo'",
        FAILED,
        ("_s2024", "no CMI or Rad variable (variables: foo)"),
    ),
    Case(
        "wrong_band",
        "band 14 scan in a band 13 sequence",
        FAILED,
        ("M6C14_G16", "band 14", "in a sequence of G16 L2-CMIP sector C band 13"),
    ),
    Case(
        "duplicate_scans",
        "the same scan twice (reprocessed: same start, later created)",
        COMPLETED,
        notes=("duplicate scan skipped",),
        frames=5,
    ),
    Case(
        "duplicate_content", "a byte-identical copy of a frame", COMPLETED, notes=("duplicate input skipped",), frames=5
    ),
    Case("out_of_order_scans", "scans listed newest first", COMPLETED, notes=("sorted by scan start",), frames=5),
    Case(
        "unwritable_output",
        "output folder under a regular file (ENOTDIR)",
        FAILED,
        ("afile/out", "cannot create or write the output folder", "Not a directory"),
    ),
    Case("full_disk", "output on a 192 KiB tmpfs", FAILED, ("cannot write: No space left on device",), needs="tmpfs"),
    Case("symlink_loop", "input is a symlink loop", FAILED, ("loop.png", "Too many levels of symbolic links")),
    Case("nul_in_name", "input path with a NUL byte", FAILED, ("\\x00", "not a usable file name", "null byte")),
    Case("good_png", "a healthy PNG job in the same batch", COMPLETED, frames=9),
    Case("good_netcdf_video_cube", "a healthy NetCDF job writing MP4 and cube", COMPLETED, frames=5),
]


def _abi(directory: Path, minutes: list[int], band: int = 13, created_offset: int = 0) -> list[str]:
    """Synthetic CONUS NetCDF scans named as ABI files (write_sample), one per minute offset."""
    from datetime import datetime, timedelta, timezone

    start = datetime(2024, 5, 16, 18, 1, 17, tzinfo=timezone.utc)
    paths = []
    for m in minutes:
        (p,) = write_sample(
            directory, frames=1, size=(32, 32), fmt="nc", band=band, seed=m, start=start + timedelta(minutes=m)
        )
        if created_offset:
            g = parse_goes_name(p)
            name = format_goes_name(
                g.satellite,
                g.product,
                g.sector,
                g.band,
                g.start,
                g.end,
                g.created + timedelta(seconds=created_offset),
                level=g.level,
                mode=g.mode,
            )
            os.rename(p, os.path.join(os.path.dirname(p), name))
            p = os.path.join(os.path.dirname(p), name)
        paths.append(p)
    return paths


def _huge_png(path: Path) -> str:
    """A valid PNG header that claims 200000×200000 RGB: tiny on disk, 112 GiB if decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 200_000, 200_000, 8, 2, 0, 0, 0)
    body = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )
    path.write_bytes(body)
    return str(path)


def _mount_tmpfs(where: Path, size: str = "192k") -> bool:
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _build(case: str, tmp: Path, full_disk: Path | None) -> BatchJob | None:
    d = tmp / "in" / case
    out = tmp / "out" / case
    job = dict(name=case, output_dir=str(out), factor=2, method="linear")
    if case in ("truncated_png", "zero_byte_file", "text_named_png", "missing_file", "directory_as_frame"):
        paths = make_frames(d, 3, 32)
        f = Path(paths[1])
        if case == "truncated_png":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        elif case == "zero_byte_file":
            f.write_bytes(b"")
        elif case == "text_named_png":
            f.write_text("#!/bin/sh\ntouch pwned-by-input\n")
        elif case == "missing_file":
            f.unlink()
        else:
            f.unlink()
            f.mkdir()
        return BatchJob(inputs=paths, **job)
    if case in ("mixed_sizes", "mixed_channels", "mixed_dtypes"):
        a = make_frames(d, 1, 32)[0]
        b = str(d / "f001.png")
        if case == "mixed_sizes":
            write_png(b, np.full((48, 48, 3), 90, np.uint8))
        elif case == "mixed_channels":
            write_png(b, np.full((32, 32), 90, np.uint8))
        else:
            write_png(a, np.full((32, 32), 10, np.uint8))
            write_png(b, np.full((32, 32), 9000, np.uint16))
        return BatchJob(inputs=[a, b], **job)
    if case == "single_frame":
        return BatchJob(inputs=make_frames(d, 1, 32), **job)
    if case == "empty_folder":
        d.mkdir(parents=True)
        return BatchJob(inputs=[], **job)
    if case == "frames_1x1":
        paths = [str(d / f"p{i}.png") for i in range(3)]
        d.mkdir(parents=True)
        for i, p in enumerate(paths):
            write_png(p, np.full((1, 1, 3), 60 * i, np.uint8))
        return BatchJob(inputs=paths, **job)
    if case == "too_large_for_memory":
        d.mkdir(parents=True)
        return BatchJob(inputs=[_huge_png(d / "huge.png"), *make_frames(d, 1, 32)], **job)
    if case == "nan_only_netcdf":
        import netCDF4

        paths = _abi(d, [0, 5])
        with netCDF4.Dataset(paths[0], "a") as nc:
            nc["CMI"][:] = np.ma.masked  # every pixel _FillValue
        return BatchJob(inputs=paths, **job)
    if case == "netcdf_without_variable":
        import xarray as xr

        paths = _abi(d, [0, 5])
        xr.Dataset({"foo": (("y", "x"), np.zeros((32, 32), np.float32))}).to_netcdf(paths[1])
        return BatchJob(inputs=paths, **job)
    if case == "wrong_band":
        paths = _abi(d, [0, 10]) + _abi(d, [5], band=14)
        return BatchJob(inputs=sorted(paths, key=lambda p: parse_goes_name(p).start), **job)
    if case == "duplicate_scans":
        paths = _abi(d, [0, 5, 10])
        again = _abi(tmp / "in" / "duplicate_scans_again", [5], created_offset=3600)  # same scan, reprocessed
        return BatchJob(inputs=[paths[0], paths[1], again[0], paths[2]], **job)
    if case == "duplicate_content":
        paths = make_frames(d, 3, 32)
        copy = d / "f001-copy.png"
        copy.write_bytes(Path(paths[1]).read_bytes())
        return BatchJob(inputs=[paths[0], paths[1], str(copy), paths[2]], **job)
    if case == "out_of_order_scans":
        return BatchJob(inputs=_abi(d, [0, 5, 10])[::-1], **job)
    if case == "unwritable_output":
        blocker = tmp / "afile"
        blocker.write_text("a regular file where a folder is expected")
        return BatchJob(inputs=make_frames(d, 3, 32), **{**job, "output_dir": str(blocker / "out")})
    if case == "full_disk":
        if full_disk is None:
            return None
        # 5 × 128² noise frames, factor 4: 17 PNGs of ~49 KiB each, far more than 192 KiB
        return BatchJob(inputs=make_frames(d, 5, 128), **{**job, "factor": 4, "output_dir": str(full_disk / "out")})
    if case == "symlink_loop":
        paths = make_frames(d, 3, 32)
        loop_a, loop_b = d / "loop.png", d / "loop-b.png"
        os.symlink(loop_b, loop_a)
        os.symlink(loop_a, loop_b)
        return BatchJob(inputs=[paths[0], str(loop_a), paths[2]], **job)
    if case == "nul_in_name":
        paths = make_frames(d, 3, 32)
        return BatchJob(inputs=[paths[0], str(d / "f\x00001.png"), paths[2]], **job)
    if case == "good_png":
        return BatchJob(inputs=make_frames(d, 5, 48), **job)
    if case == "good_netcdf_video_cube":
        return BatchJob(inputs=_abi(d, [0, 5, 10]), settings={"video": True, "cube": True}, **job)
    raise KeyError(case)


@pytest.fixture(scope="module")
def corpus(shared_cluster, tmp_path_factory):
    """Run every case as one batch on the shared cluster; returns {case id: the finished job}."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("corpus")
    mount = tmp / "full-disk"
    mounted = _mount_tmpfs(mount)
    try:
        jobs = {c.id: _build(c.id, tmp, mount if mounted else None) for c in CASES}
        settings = {
            "goesvfi.retry.max-attempts": 1,
            "goesvfi.queue.circuit-breaker": 0,  # many failures in a row
            "goesvfi.queue.metrics-interval": 0.1,
        }
        with dask.config.set(settings), Client(shared_cluster.address, timeout=60) as client:
            q = BatchQueue(cluster=client, store=tmp / "queue.sqlite3")
            ids = q.add_jobs([j for j in jobs.values() if j is not None])
            assert len(ids) == sum(j is not None for j in jobs.values())
            q.start(preload=["linear"])
            try:
                assert q.wait(240)
            finally:
                q.stop()
            yield {cid: (q.job(j.id) if j is not None else None) for cid, j in jobs.items()}, tmp
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_corpus(corpus, case):
    results, tmp = corpus
    job = results[case.id]
    if job is None:
        pytest.skip(
            f"{case.id}: needs a {case.needs} (mount -t tmpfs is not allowed here); "
            "test_full_disk_under_a_size_capped_writer covers the write path"
        )
    assert job.status == case.status, (job.status, job.error)
    if case.status == FAILED:
        for text in case.error:
            assert text in job.error, (text, job.error)
        assert len(job.error.splitlines()) == 1 and "Traceback" not in job.error  # one line a user can act on
    else:
        assert job.error is None
        for text in case.notes:
            assert any(text in n for n in job.notes), (text, job.notes)
        assert job.frames_total == case.frames
        assert_completed_on_disk([job])
    if os.path.isdir(job.output_dir):
        assert leftovers(job.output_dir) == []  # no temporaries, no lock, whatever happened


@pytest.mark.slow
@pytest.mark.cluster
def test_bad_inputs_did_not_stop_the_batch_and_left_nothing_behind(corpus):
    results, tmp = corpus
    done = [cid for cid, j in results.items() if j is not None and j.status == COMPLETED]
    assert sorted(done) == sorted(c.id for c in CASES if c.status == COMPLETED)
    assert leftovers(tmp / "out") == []
    assert not list(Path(REPO).glob("pwned*")) and not list(tmp.rglob("pwned*"))  # the text file never ran
    good = results["good_netcdf_video_cube"]
    from goesvfi_lab.frames import count_video_frames

    assert count_video_frames(os.path.join(good.output_dir, "video.mp4")) == 5
    out_of_order = results["out_of_order_scans"]
    manifest = layout.read_manifest(out_of_order.output_dir)
    starts = [parse_goes_name(p).start for p in manifest["inputs"]]
    assert starts == sorted(starts)  # interpolated in scan order
    full = results["full_disk"]
    if full is not None:  # the full disk: the failing frame is named, nothing half-written stays on it
        assert "/full-disk/out/0000" in full.error and ".png" in full.error
        assert leftovers(os.path.dirname(full.output_dir)) == []


@pytest.mark.slow
def test_empty_folder_makes_no_job_and_the_cli_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    q = BatchQueue(cluster=None, store=tmp_path / "q.sqlite3")  # never started
    assert q.add_directory(tmp_path / "empty", tmp_path / "out") == []
    q.store.close()
    p = cli("run", str(tmp_path / "empty"), "-o", str(tmp_path / "out2"), "--quiet")
    output, _ = p.communicate(timeout=120)
    assert p.returncode == 0 and "no sequences with two or more frames" in output, output


_WRITER = textwrap.dedent(
    """
    import resource, sys
    from goesvfi_lab.engine.tasks import PairSpec, run_pair

    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # no file may grow past 20 kB
    spec = PairSpec(job_id="j", pair=0, attempt=0, in0=sys.argv[1], in1=sys.argv[2], output_dir=sys.argv[3],
                    factor=4, last=True, method="linear", stop=None)
    try:
        run_pair(spec)
    except Exception as exc:
        print(type(exc).__name__, exc)
    """
)


@pytest.mark.slow
def test_full_disk_under_a_size_capped_writer(tmp_path):
    """Where no tmpfs can be mounted: the real pair task in a process whose files may not exceed 20 kB."""
    a, b = make_frames(tmp_path / "in", 2, 128)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", _WRITER, a, b, str(out)], capture_output=True, text=True, timeout=120)
    line = done.stdout.strip()
    assert line.startswith("FrameError ") and f"{out}/00000" in line and "cannot write: File too large" in line, (
        line,
        done.stderr[-2000:],
    )
    assert leftovers(out) == []  # the temporary of the refused write was removed


# --- the store itself --------------------------------------------------------------------------


def _filled_store(path: Path, n: int = 500) -> None:
    with Store(path) as s:
        s.add([BatchJob(name=f"j{i}", inputs=["a.png", "b.png"], output_dir=f"out/{i}") for i in range(n)])


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "truncated", "mangled_page"])
def test_corrupted_store_is_refused_with_its_path_and_what_to_do(tmp_path, damage):
    path = tmp_path / "queue.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"this is not a database\n" * 200)
    else:
        _filled_store(path)
        data = bytearray(path.read_bytes())
        if damage == "truncated":
            data = data[: len(data) // 2]
        else:
            data[4096:8192] = b"\xff" * 4096  # one page of the table overwritten
        path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        BatchQueue(store=path)
    assert str(path) in str(err.value) and "corrupted" in str(err.value) and "move it aside" in str(err.value)
    p = cli("status", str(path))
    output, _ = p.communicate(timeout=120)
    assert p.returncode == 1 and "error:" in output and "Traceback" not in output, output


_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    db.execute("COMMIT")
    """
)


@pytest.mark.slow
def test_store_locked_by_another_process_waits_then_says_so(tmp_path):
    path = tmp_path / "queue.sqlite3"
    _filled_store(path, 3)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError) as err:
            Store(path, busy_timeout=1.0)
        assert str(path) in str(err.value) and "locked by another process" in str(err.value)
    finally:
        holder.kill()
        holder.wait(30)
    short = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert short.stdout.readline().strip() == "locked"
        with Store(path, busy_timeout=20.0) as store:  # a short lock is simply waited for
            assert len(store) == 3
    finally:
        short.wait(30)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- the checks behind the corpus, without a cluster ---------------------------------------------


def test_job_inputs_are_checked_sorted_and_deduplicated_by_scan(tmp_path):
    from goesvfi_lab.discover import check_job_inputs
    from goesvfi_lab.errors import FrameError

    scans = _abi(tmp_path / "a", [0, 5, 10])
    again = _abi(tmp_path / "b", [5], created_offset=60)[0]
    ordered, notes = check_job_inputs([scans[2], scans[0], again, scans[1]])
    assert ordered in ([scans[0], again, scans[2]], [scans[0], scans[1], scans[2]])
    assert len(ordered) == 3 and any("sorted by scan start" in n for n in notes)
    assert any("duplicate scan skipped" in n for n in notes)
    assert check_job_inputs(scans) == (scans, [])
    pngs = make_frames(tmp_path / "p", 3, 8)
    assert check_job_inputs(pngs[::-1]) == (pngs[::-1], [])  # no scan times: the given order stands
    odd = _abi(tmp_path / "c", [15], band=7)[0]
    with pytest.raises(FrameError, match=r"band 7 \(\.nc\), in a sequence of .* band 13 \(\.nc\)") as err:
        check_job_inputs([*scans, odd])
    assert err.value.path == odd


def test_oversized_netcdf_and_png_are_refused_before_reading(tmp_path):
    from goesvfi_lab.errors import FrameError
    from goesvfi_lab.frames import read_frame

    nc = _abi(tmp_path, [0])[0]
    png = make_frames(tmp_path / "p", 1, 32)[0]
    assert read_frame(nc).shape == (32, 32) and read_frame(png).shape == (32, 32, 3)
    with dask.config.set({"goesvfi.frames.max-frame-bytes": 32 * 32 * 3 - 1}):
        for path in (nc, png):
            with pytest.raises(FrameError, match="refused before reading it") as err:
                read_frame(path)
            assert err.value.path == path
