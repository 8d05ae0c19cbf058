"""Discovery: ABI names, file filters on real files, sequence grouping, duplicate hashing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from goesvfi_lab.discover import (
    GAP_FACTOR,
    HASH_BYTES,
    SPLIT_AFTER_MISSING,
    FileFilter,
    GoesName,
    content_hash,
    find_duplicates,
    format_goes_name,
    group_sequences,
    natural_sort_key,
    parse_goes_name,
)
from goesvfi_lab.errors import FrameError

UTC = timezone.utc
T0 = datetime(2023, 5, 3, 12, 0, 21, 700000, tzinfo=UTC)  # day 123


def abi(start: datetime, *, sat="G16", product="CMIP", sector="C", band=13, level="L2", mode=6, ext=".nc") -> str:
    return format_goes_name(
        sat,
        product,
        sector,
        band,
        start,
        start + timedelta(minutes=2, seconds=37),
        start + timedelta(minutes=3),
        level=level,
        mode=mode,
        ext=ext,
    )


def touch(path, data: bytes = b"x", mtime: datetime | None = None) -> str:
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


# ---------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "OR_ABI-L2-CMIPC-M6C13_G16_s20231231200217_e20231231202590_c20231231203044.nc",
            ("G16", "L2", "CMIP", "C", 6, 13, datetime(2023, 5, 3, 12, 0, 21, 700000, tzinfo=UTC)),
        ),
        (
            "OR_ABI-L1b-RadF-M6C13_G18_s20232501800209_e20232501809517_c20232501809565.nc",
            ("G18", "L1b", "Rad", "F", 6, 13, datetime(2023, 9, 7, 18, 0, 20, 900000, tzinfo=UTC)),
        ),
        (
            "OR_ABI-L2-CMIPM1-M6C02_G19_s20250011200252_e20250011200309_c20250011200371.nc",
            ("G19", "L2", "CMIP", "M1", 6, 2, datetime(2025, 1, 1, 12, 0, 25, 200000, tzinfo=UTC)),
        ),
        ("OR_ABI-L1b-RadM2-M3C07_G17_s20193660000000_e20193660000599_c20193660001001.nc", None),  # 2019 has no day 366
        (
            "OR_ABI-L1b-RadM2-M3C07_G17_s20203660000000_e20203660000599_c20203660001001.nc",
            ("G17", "L1b", "Rad", "M2", 3, 7, datetime(2020, 12, 31, 0, 0, 0, tzinfo=UTC)),
        ),
        (
            "OR_ABI-L1b-RadF-M4C01_G16_s20171001500000_e20171001504599_c20171001505001.nc",
            ("G16", "L1b", "Rad", "F", 4, 1, datetime(2017, 4, 10, 15, 0, 0, tzinfo=UTC)),
        ),
        (
            "OR_ABI-L2-ACHAC-M6_G16_s20231231200217_e20231231202590_c20231231203044.nc",
            ("G16", "L2", "ACHA", "C", 6, None, datetime(2023, 5, 3, 12, 0, 21, 700000, tzinfo=UTC)),
        ),
        (
            "OR_ABI-L2-MCMIPF-M6_G18_s20231231200217_e20231231202590_c20231231203044.nc",
            ("G18", "L2", "MCMIP", "F", 6, None, datetime(2023, 5, 3, 12, 0, 21, 700000, tzinfo=UTC)),
        ),
        (
            "OR_ABI-L2-FDCC-M6_G16_s20231231200217_e20231231202590_c20231231203044.nc",
            ("G16", "L2", "FDC", "C", 6, None, datetime(2023, 5, 3, 12, 0, 21, 700000, tzinfo=UTC)),
        ),
    ],
)
def test_parse_abi_names(name, expected):
    g = parse_goes_name("/data/goes/" + name)  # a path works as well as a bare name
    if expected is None:
        assert g is None
        return
    assert (g.satellite, g.level, g.product, g.sector, g.mode, g.band, g.start) == expected
    assert g.start.tzinfo is not None and g.end > g.start and g.created > g.start
    assert g.filename == name


@pytest.mark.parametrize(
    "name",
    [
        "frame_0001.png",
        "",
        "OR_GLM-L2-LCFA_G16_s20231231200000_e20231231200200_c20231231200227.nc",  # GLM, not ABI
        "OR_ABI-L2-CMIPC-M6C13_G15_s20231231200217_e20231231202590_c20231231203044.nc",  # no G15 in GOES-R
        "OR_ABI-L2-CMIPX-M6C13_G16_s20231231200217_e20231231202590_c20231231203044.nc",  # sector X
        "OR_ABI-L2-CMIPC-M6C13_G16_s2023123120021_e20231231202590_c20231231203044.nc",  # short time
        "OR_ABI-L2-CMIPC-M6C13_G16_s20231232500217_e20231231202590_c20231231203044.nc",  # hour 25
        "OR_ABI-L2-CMIPC-M6C13_G16_s20230001200217_e20231231202590_c20231231203044.nc",  # day 0
        "OR_ABI-L3-CMIPC-M6C13_G16_s20231231200217_e20231231202590_c20231231203044.nc",  # level 3
        "XOR_ABI-L2-CMIPC-M6C13_G16_s20231231200217_e20231231202590_c20231231203044.nc",
    ],
)
def test_parse_rejects_non_abi_names(name):
    assert parse_goes_name(name) is None


def test_cadence_by_sector_and_mode():
    def cadence(sector, mode=6):
        return parse_goes_name(abi(T0, sector=sector, mode=mode)).cadence

    assert cadence("M1") == cadence("M2") == timedelta(minutes=1)
    assert cadence("C") == cadence("C", 3) == timedelta(minutes=5)
    assert cadence("F") == timedelta(minutes=10)
    assert cadence("F", 3) == timedelta(minutes=15)
    assert cadence("F", 4) == timedelta(minutes=5)


@pytest.mark.parametrize("sat", ["G16", "G17", "G18", "G19"])
@pytest.mark.parametrize("sector", ["F", "C", "M1", "M2"])
@pytest.mark.parametrize("level, product, band", [("L1b", "Rad", 13), ("L2", "CMIP", 2), ("L2", "ACHA", None)])
def test_format_parse_round_trip(sat, sector, level, product, band):
    start = datetime(2024, 2, 29, 23, 59, 59, 900000, tzinfo=UTC)  # leap day, last tenth of the day
    name = format_goes_name(
        sat,
        product,
        sector,
        band,
        start,
        start + timedelta(seconds=30),
        start + timedelta(seconds=45),
        level=level,
        mode=3,
        ext=".png",
    )
    g = parse_goes_name(name)
    assert g == GoesName(
        sat,
        level,
        product,
        sector,
        3,
        band,
        start,
        start + timedelta(seconds=30),
        start + timedelta(seconds=45),
        ".png",
    )
    assert (
        format_goes_name(
            g.satellite, g.product, g.sector, g.band, g.start, g.end, g.created, level=g.level, mode=g.mode, ext=g.ext
        )
        == name
    )


def test_format_treats_naive_times_as_utc_and_truncates_to_tenths():
    naive = datetime(2023, 5, 3, 12, 0, 21, 789000)
    name = format_goes_name("G16", "CMIP", "C", 13, naive, naive, naive)
    assert "_s20231231200217_" in name
    assert parse_goes_name(name).start == datetime(2023, 5, 3, 12, 0, 21, 700000, tzinfo=UTC)


@pytest.mark.parametrize(
    "kwargs", [{"satellite": "G15"}, {"sector": "M3"}, {"band": 17}, {"level": "L3"}, {"product": "CM-IP"}]
)
def test_format_rejects_invalid_fields(kwargs):
    args = {"satellite": "G16", "product": "CMIP", "sector": "C", "band": 13, "start": T0, "end": T0, "created": T0}
    level = kwargs.pop("level", "L2")
    args.update(kwargs)
    with pytest.raises(ValueError):
        format_goes_name(**args, level=level)


# ---------------------------------------------------------------------------------------------
# filters on real files


@pytest.fixture
def tree(tmp_path):
    """A small archive: two satellites, two bands, CONUS and meso, PNG renders, noise."""
    root = tmp_path / "archive"
    files = {
        "c13_0": touch(root / "G16" / abi(T0), b"a" * 100, datetime(2024, 1, 10, 12, tzinfo=UTC)),
        "c13_1": touch(
            root / "G16" / abi(T0 + timedelta(minutes=5)), b"b" * 200, datetime(2024, 1, 20, 12, tzinfo=UTC)
        ),
        "c02": touch(root / "G16" / abi(T0, band=2), b"c" * 300, datetime(2024, 2, 1, 12, tzinfo=UTC)),
        "g18_m1": touch(
            root / "G18" / "meso" / abi(T0, sat="G18", sector="M1", product="Rad", level="L1b"), b"d" * 400
        ),
        "png": touch(root / "renders" / abi(T0, ext=".PNG"), b"e" * 500),
        "txt": touch(root / "notes.txt", b"hello"),
        "frame": touch(root / "renders" / "frame10.png", b"f" * 50),
    }
    return root, files


def test_extensions_are_case_insensitive_and_default_to_nc_png(tree):
    root, f = tree
    assert FileFilter().scan(root) == sorted(v for k, v in f.items() if k != "txt")
    assert FileFilter(extensions=["PNG"]).scan(root) == sorted([f["png"], f["frame"]])
    assert FileFilter(extensions=[".txt"]).scan(root) == [f["txt"]]
    assert len(FileFilter(extensions=None).scan(root)) == len(f)


def test_scan_returns_sorted_absolute_paths(tree, monkeypatch):
    root, f = tree
    monkeypatch.chdir(root.parent)
    found = FileFilter().scan("archive")
    assert found == sorted(found) and all(os.path.isabs(p) for p in found)
    assert found == FileFilter().scan(root)


def test_recursive_or_not(tree):
    root, f = tree
    assert FileFilter(extensions=None).scan(root, recursive=False) == [f["txt"]]
    assert FileFilter().scan(root / "G16", recursive=False) == sorted([f["c13_0"], f["c13_1"], f["c02"]])
    assert f["g18_m1"] in FileFilter().scan(root / "G18")
    assert FileFilter().scan(root / "G18", recursive=False) == []


def test_size_range_in_bytes_inclusive(tree):
    root, f = tree
    assert FileFilter(min_size=300).scan(root) == sorted([f["c02"], f["g18_m1"], f["png"]])
    assert FileFilter(max_size=100).scan(root) == sorted([f["c13_0"], f["frame"]])
    assert FileFilter(min_size=150, max_size=300).scan(root) == sorted([f["c13_1"], f["c02"]])


@pytest.fixture
def utc_local_time(monkeypatch):
    """Naive mtime bounds are local time: pin the zone so day boundaries do not depend on the runner."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_mtime_range_accepts_datetime_date_and_iso(tree, utc_local_time):
    root, f = tree
    old = [f["c13_0"], f["c13_1"], f["c02"]]
    nc_only = {"extensions": [".nc"]}
    g16 = root / "G16"
    assert FileFilter(min_date=datetime(2024, 1, 15, tzinfo=UTC), **nc_only).scan(g16) == sorted([f["c13_1"], f["c02"]])
    # a date as upper bound includes the whole day
    assert FileFilter(max_date=date(2024, 1, 20), **nc_only).scan(g16) == sorted([f["c13_0"], f["c13_1"]])
    assert FileFilter(min_date="2024-01-11", max_date="2024-01-31", **nc_only).scan(g16) == [f["c13_1"]]
    assert FileFilter(min_date="2024-01-20T11:00:00Z", max_date="2024-01-20T13:00:00+00:00").scan(g16) == [f["c13_1"]]
    # the files written just now are newer than all of these
    assert set(FileFilter(min_date="2024-03-01").scan(root)) == {f["g18_m1"], f["png"], f["frame"]}
    assert sorted(FileFilter(max_date="2024-03-01").scan(root)) == sorted(old)
    with pytest.raises(ValueError, match="ISO"):
        FileFilter(min_date="last tuesday")


def test_name_pattern_is_searched_in_the_file_name_only(tree):
    root, f = tree
    assert FileFilter(name_pattern=r"M6C02").scan(root) == [f["c02"]]
    assert FileFilter(name_pattern=r"^frame\d+").scan(root) == [f["frame"]]
    assert FileFilter(name_pattern="renders").scan(root) == []  # a directory name does not count


def test_exclude_paths_and_patterns(tree):
    root, f = tree
    assert FileFilter(exclude_paths=[root / "G16"]).scan(root) == sorted([f["g18_m1"], f["png"], f["frame"]])
    assert FileFilter(exclude_paths=[f["c02"], root / "G18" / "meso"]).scan(root) == sorted(
        [f["c13_0"], f["c13_1"], f["png"], f["frame"]]
    )
    # exclusions are resolved: a relative spelling of the same directory works too
    rel = os.path.relpath(root / "renders")
    assert f["png"] not in FileFilter(exclude_paths=[rel]).scan(root)
    assert FileFilter(exclude_paths=[root]).scan(root) == []
    assert FileFilter(exclude_patterns=[r"/renders/"]).scan(root) == sorted(
        [f["c13_0"], f["c13_1"], f["c02"], f["g18_m1"]]
    )
    assert FileFilter(exclude_patterns=[r"M6C\d\d_G16", r"\.png$"]).scan(root) == [f["g18_m1"]]
    assert not FileFilter(exclude_paths=[root / "G16"]).matches(f["c13_0"])
    assert not FileFilter(exclude_patterns=["G18"]).matches(f["g18_m1"])
    assert FileFilter(exclude_patterns=["G18"]).matches(f["c13_0"])


def test_goes_fields(tree):
    root, f = tree
    assert FileFilter(band=13, extensions=[".nc"]).scan(root) == sorted([f["c13_0"], f["c13_1"], f["g18_m1"]])
    assert FileFilter(band="C02").scan(root) == [f["c02"]]
    assert FileFilter(band=[2, 13], satellite="G16", extensions=[".nc"]).scan(root) == sorted(
        [f["c13_0"], f["c13_1"], f["c02"]]
    )
    assert FileFilter(satellite="G18").scan(root) == [f["g18_m1"]]
    assert FileFilter(satellite=18).scan(root) == [f["g18_m1"]]
    assert FileFilter(sector="M").scan(root) == [f["g18_m1"]]
    assert FileFilter(sector="M2").scan(root) == []
    assert FileFilter(sector="CONUS", extensions=[".png"]).scan(root) == [f["png"]]
    assert FileFilter(product="rad").scan(root) == [f["g18_m1"]]
    assert FileFilter(level="L1b").scan(root) == [f["g18_m1"]]
    assert FileFilter(mode=3).scan(root) == []
    assert FileFilter(band=7).scan(root) == []
    # a GOES-field filter never passes a name that is not ABI
    assert f["frame"] not in FileFilter(extensions=[".png"], satellite=["G16", "G18"]).scan(root)


def test_scan_start_range(tree):
    root, f = tree
    g16 = root / "G16"
    assert FileFilter(start=T0 + timedelta(minutes=1)).scan(g16) == [f["c13_1"]]
    assert FileFilter(end=T0 + timedelta(minutes=1)).scan(g16) == sorted([f["c13_0"], f["c02"]])
    # naive datetimes and strings are UTC here: scan times are UTC in the names
    assert FileFilter(start="2023-05-03T12:03", end=datetime(2023, 5, 3, 12, 6)).scan(g16) == [f["c13_1"]]
    assert FileFilter(start=date(2023, 5, 3), end=date(2023, 5, 3)).scan(g16) == sorted(
        [f["c13_0"], f["c13_1"], f["c02"]]
    )
    assert FileFilter(start=date(2023, 5, 4)).scan(root) == []


def test_matches_agrees_with_scan(tree):
    root, f = tree
    flt = FileFilter(band=13, min_size=150)
    found = set(flt.scan(root))
    assert found == {p for p in f.values() if flt.matches(p)}
    assert not flt.matches(root / "does-not-exist.nc")
    assert not FileFilter(extensions=None).matches(root)  # a directory is not a file


def test_scan_of_missing_root_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        FileFilter().scan(tmp_path / "nope")


def test_symlink_loop_terminates_and_aliases_are_read_once(tmp_path):
    root = tmp_path / "root"
    a = touch(root / "sub" / "a.nc")
    os.symlink(root, root / "sub" / "loop")  # sub/loop -> root -> sub -> loop ...
    os.symlink(root / "sub", root / "alias")
    dangling = root / "dangling.nc"
    os.symlink(tmp_path / "gone.nc", dangling)
    found = FileFilter().scan(root)
    assert len(found) == 1 and os.path.realpath(found[0]) == os.path.realpath(a)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_directory_is_skipped(tmp_path):
    ok = touch(tmp_path / "ok" / "a.nc")
    touch(tmp_path / "locked" / "b.nc")
    os.chmod(tmp_path / "locked", 0)
    try:
        assert FileFilter().scan(tmp_path) == [ok]
    finally:
        os.chmod(tmp_path / "locked", 0o755)


def test_bad_filter_values_fail_at_construction():
    with pytest.raises(re.error):
        FileFilter(name_pattern="(unclosed")
    with pytest.raises(re.error):
        FileFilter(exclude_patterns=["[bad"])
    with pytest.raises(TypeError):
        FileFilter(min_date=[2024])


# ---------------------------------------------------------------------------------------------
# sequences


def conus(minutes, **kw) -> list[str]:
    return [abi(T0 + timedelta(minutes=m, seconds=0.4 * (i % 2)), **kw) for i, m in enumerate(minutes)]


def test_one_complete_sequence(tmp_path):
    paths = [touch(tmp_path / n, b"z" * 10) for n in conus(range(0, 60, 5))]
    (seq,) = group_sequences(reversed(paths))
    assert seq.paths == paths and seq.n_frames == 12 and seq.missing == [] and seq.duplicates == []
    assert seq.cadence == timedelta(minutes=5)
    assert seq.name == "G16-L2-CMIP-C-C13-20230503T1200"
    assert seq.key == ("G16", "L2", "CMIP", "C", 13, ".nc")
    assert seq.start == T0 and seq.span == timedelta(minutes=55, seconds=0.4)
    assert seq.describe() == {
        "name": "G16-L2-CMIP-C-C13-20230503T1200",
        "frames": 12,
        "start": "2023-05-03T12:00:21Z",
        "end": "2023-05-03T12:55:22Z",
        "span": "0:55:00",
        "cadence": "0:05:00",
        "missing": 0,
        "duplicates": 0,
        "size_bytes": 120,
    }
    json.dumps(seq.describe())  # a table row must be plain data


def test_groups_split_by_satellite_band_sector_product_and_extension():
    paths = (
        conus(range(0, 15, 5))
        + conus(range(0, 15, 5), band=2)
        + conus(range(0, 15, 5), sat="G18")
        + conus(range(0, 3), sector="M1")
        + conus(range(0, 3), sector="M2")
        + conus(range(0, 15, 5), product="Rad", level="L1b")
        + conus(range(0, 15, 5), ext=".png")
    )
    seqs = group_sequences(["/d/" + p for p in paths])
    assert len(seqs) == 7
    assert all(s.n_frames == 3 and s.missing == [] for s in seqs)
    assert len({s.name for s in seqs}) == 7
    assert {s.cadence for s in seqs} == {timedelta(minutes=5), timedelta(minutes=1)}


def test_files_of_one_sequence_in_different_directories_join():
    paths = [f"/bucket/{i}/{n}" for i, n in enumerate(conus(range(0, 20, 5)))]
    (seq,) = group_sequences(paths)
    assert seq.paths == paths


def test_gap_reports_missing_scans():
    paths = conus([0, 5, 20, 25, 30, 40])
    (seq,) = group_sequences(paths)
    assert seq.n_frames == 6
    # expected times count on from the scan before the gap (scan starts jitter by fractions of a second)
    assert seq.missing == [T0 + timedelta(minutes=m, seconds=0.4) for m in (10, 15)] + [T0 + timedelta(minutes=35)]
    assert seq.describe()["missing"] == 3


def test_gap_factor_decides_what_counts_as_missing():
    paths = conus([0, 5, 12, 17])  # one 7-minute gap: 1.4 x cadence
    assert group_sequences(paths)[0].missing == []
    assert len(group_sequences(paths, gap_factor=1.2)[0].missing) == 1
    assert GAP_FACTOR == 1.5 and SPLIT_AFTER_MISSING == 6


def test_long_outage_splits_the_sequence_only_beyond_the_limit():
    # 6 missing scans (the default limit) stay one sequence; 7 split
    six = conus([0, 5, 40, 45])
    (seq,) = group_sequences(six)
    assert len(seq.missing) == 6
    seven = conus([0, 5, 45, 50])
    first, second = group_sequences(seven)
    assert first.n_frames == second.n_frames == 2
    assert first.missing == second.missing == []
    assert second.start == T0 + timedelta(minutes=45)
    assert first.name != second.name and second.name.endswith("T1245")
    # a configured limit
    assert len(group_sequences(six, split_after_missing=5)) == 2
    assert len(group_sequences(seven, split_after_missing=7)) == 1


def test_duplicate_scan_times_keep_the_first():
    a = "/x/" + abi(T0)
    b = "/y/" + abi(T0)  # same scan, another copy
    c = "/x/" + abi(T0 + timedelta(minutes=5))
    (seq,) = group_sequences([c, b, a])
    assert seq.paths == [a, c] and seq.duplicates == [b] and seq.times == [T0, T0 + timedelta(minutes=5)]


def test_sparse_products_take_their_cadence_from_the_files():
    hourly = [abi(T0 + timedelta(hours=h), product="RSR", band=None) for h in (0, 1, 2, 4, 5)]
    (seq,) = group_sequences(hourly)
    assert seq.cadence == timedelta(hours=1)
    assert seq.missing == [T0 + timedelta(hours=3)]
    # CMIP is written for every scan: half the scans absent is reported, not taken as the cadence
    (cmip,) = group_sequences(conus(range(0, 60, 10)))
    assert cmip.cadence == timedelta(minutes=5) and len(cmip.missing) == 5


def test_non_abi_names_group_by_folder_in_natural_order(tmp_path):
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.png", "frame21.png"]
    paths = [touch(tmp_path / "renders" / n, b"p") for n in names]
    other = touch(tmp_path / "renders" / "frame1.jpg", b"jj")
    elsewhere = touch(tmp_path / "other" / "frame1.png", b"q")
    seqs = group_sequences(paths + [other, elsewhere])
    assert [s.name for s in seqs] == ["other/*.png", "renders/*.jpg", "renders/*.png"]
    png = seqs[2]
    assert [os.path.basename(p) for p in png.paths] == [
        "frame1.png",
        "frame2.png",
        "Frame3.png",
        "frame10.png",
        "frame21.png",
    ]
    assert png.key is None and png.cadence is None and png.times == [None] * 5 and png.start is None
    assert png.size_bytes == 5 and seqs[1].size_bytes == 2
    assert png.describe()["span"] is None


def test_natural_sort_key():
    assert sorted(["frame10", "frame2", "frame1", "frame02b", "Frame2a"], key=natural_sort_key) == [
        "frame1",
        "frame2",
        "Frame2a",
        "frame02b",
        "frame10",
    ]
    assert natural_sort_key("a2") < natural_sort_key("a10") < natural_sort_key("b1")
    assert sorted(["x", "1", "x1", ""], key=natural_sort_key) == ["", "1", "x", "x1"]


def test_group_sequences_rejects_bad_parameters():
    with pytest.raises(ValueError):
        group_sequences([], gap_factor=0.5)
    with pytest.raises(ValueError):
        group_sequences([], split_after_missing=-1)
    assert group_sequences([]) == []


# ---------------------------------------------------------------------------------------------
# duplicates


def test_content_hash_partial_and_full(tmp_path):
    head = os.urandom(HASH_BYTES)
    a = touch(tmp_path / "a.nc", head + b"tail-A" * 100)
    b = touch(tmp_path / "b.nc", head + b"tail-B" * 100)
    assert content_hash(a) == content_hash(b)
    assert content_hash(a, full=True) != content_hash(b, full=True)
    assert content_hash(a).startswith(f"{HASH_BYTES + 600}:")
    assert content_hash(a, nbytes=10) == content_hash(b, nbytes=10)
    with pytest.raises(FrameError, match="missing.nc"):
        content_hash(tmp_path / "missing.nc")


def test_find_duplicates_by_content(tmp_path):
    head = os.urandom(HASH_BYTES)
    same_head_1 = touch(tmp_path / "big1.nc", head + b"1" * 1000)
    same_head_2 = touch(tmp_path / "big2.nc", head + b"2" * 1000)
    copy_of_1 = touch(tmp_path / "sub" / "big1-copy.nc", head + b"1" * 1000)
    small_a = touch(tmp_path / "s1.png", b"small")
    small_b = touch(tmp_path / "s2.png", b"small")
    unique = touch(tmp_path / "u.png", b"other")  # same size as the small ones, other content
    longer = touch(tmp_path / "l.png", b"small!")
    order = [small_b, same_head_2, unique, same_head_1, longer, copy_of_1, small_a, small_b]
    assert find_duplicates(order) == [[small_b, small_a], [same_head_2, same_head_1, copy_of_1]]
    assert find_duplicates(order, full=True) == [[small_b, small_a], [same_head_1, copy_of_1]]
    assert find_duplicates([unique, tmp_path / "gone.png"]) == []


# ---------------------------------------------------------------------------------------------
# purity


def test_discover_import_stays_pure():
    code = (
        "import json, sys\n"
        "import goesvfi_lab.discover, goesvfi_lab.model\n"
        "print(json.dumps([m for m in ('torch', 'distributed', 'dask', 'ipywidgets', 'numpy', 'xarray')"
        " if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []
