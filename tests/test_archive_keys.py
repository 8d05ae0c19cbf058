"""goesvfi_lab.archive.keys: NOAA bucket names, prefixes, slot resolution and thinning, without a server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from goesvfi_lab.archive import keys
from goesvfi_lab.discover import format_goes_name

UTC = timezone.utc


def scan(
    start: datetime, band: int = 13, sat: str = "G16", sector: str = "C", product: str = "CMIP"
) -> keys.RemoteScan:
    name = format_goes_name(
        sat, product, sector, band, start, start + timedelta(minutes=2), start + timedelta(minutes=3)
    )
    folder = f"ABI-L2-{product}{'M' if sector.startswith('M') else sector}/{start:%Y/%j/%H}"
    made = keys.remote_scan(keys.BUCKETS[sat], f"{folder}/{name}", 1000)
    assert made is not None
    return made


def test_keys_import_no_network_or_dask():
    code = (
        "import json, sys, goesvfi_lab.archive, goesvfi_lab.archive.keys\n"
        "print(json.dumps([m for m in ('fsspec', 's3fs', 'dask', 'numpy', 'botocore') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_hour_prefixes_are_the_folders_of_the_range_only():
    q = keys.plan("G16", "ABI-L2-CMIP", "C", 13, "2024-07-01T18:20", "2024-07-01T20:05")
    assert [p for _, p in q.listings()] == [
        "noaa-goes16/ABI-L2-CMIPC/2024/183/18/OR_ABI-L2-CMIPC-M",
        "noaa-goes16/ABI-L2-CMIPC/2024/183/19/OR_ABI-L2-CMIPC-M",
        "noaa-goes16/ABI-L2-CMIPC/2024/183/20/OR_ABI-L2-CMIPC-M",
    ]
    day = keys.plan("G16", "ABI-L2-CMIP", "C", 13, "2024-07-01", "2024-07-01")  # a bare end date: the whole day
    assert len(list(day.listings())) == 24


def test_mesoscale_full_disk_and_product_spellings():
    m2 = keys.plan("G18", "ABI-L2-CMIPM2", None, 2, "2024-01-01T00:00", "2024-01-01T00:30")
    assert [p for _, p in m2.listings()] == ["noaa-goes18/ABI-L2-CMIPM/2024/001/00/OR_ABI-L2-CMIPM2-M"]
    full = keys.plan("19", "Rad", "full disk", "C07", "2025-05-01T12:00", "2025-05-01T12:59")
    assert [p for _, p in full.listings()] == ["noaa-goes19/ABI-L1b-RadF/2025/121/12/OR_ABI-L1b-RadF-M"]
    mcmip = keys.plan("GOES-16", "MCMIP", "C", None, "2024-01-01T00:00", "2024-01-01T00:30")
    assert mcmip.segments[0].band is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"satellite": "G15"}, "unknown satellite 'G15'"),
        ({"product": "ABI-L2-XYZ"}, "unknown product 'ABI-L2-XYZ'"),
        ({"sector": "Q"}, "unknown sector 'Q'"),
        ({"band": 17}, "unknown ABI band 17"),
        ({"band": None}, "written per band"),
        ({"product": "ABI-L2-MCMIP"}, "not per band"),
        ({"start": "2024-07-01T19:00", "end": "2024-07-01T18:00"}, "empty time range"),
        ({"start": "2024-07-01T18:00", "end": "2024-07-01T18:00"}, "empty time range"),
        ({"product": "ABI-L2-CMIPC", "sector": "F"}, "names sector C"),
        ({"every": "ten minutes"}, "every='ten minutes'"),
        ({"start": "yesterday"}, "not an ISO date"),
    ],
)
def test_bad_input_names_the_field(kwargs, message):
    args = {"satellite": "G16", "product": "ABI-L2-CMIP", "sector": "C", "band": 13}
    args |= {"start": "2024-07-01T18:00", "end": "2024-07-01T19:00"}
    with pytest.raises(ValueError, match=message):
        keys.plan(**(args | kwargs))


def test_goes_east_and_west_resolve_by_date():
    before = keys.plan("GOES-East", "ABI-L2-CMIP", "C", 13, "2025-04-05T00:00", "2025-04-05T01:00")
    after = keys.plan("east", "ABI-L2-CMIP", "C", 13, "2025-04-08T00:00", "2025-04-08T01:00")
    assert [s.satellite for s in before.segments] == ["G16"] and "listing G16" in before.notes[0]
    assert [s.satellite for s in after.segments] == ["G19"] and "listing G19" in after.notes[0]
    west = keys.plan("GOES-West", "ABI-L2-CMIP", "C", 13, "2023-01-03T00:00", "2023-01-05T00:00")
    assert [s.satellite for s in west.segments] == ["G17", "G18"]
    assert "crosses the GOES-West switch (G17 -> G18 at 2023-01-04 00:00 UTC)" in west.notes[0]
    explicit = keys.plan("G16", "ABI-L2-CMIP", "C", 13, "2025-04-06T23:00", "2025-04-07T01:00")
    assert [s.satellite for s in explicit.segments] == ["G16"] and explicit.notes == []


def test_crossing_the_switch_splits_the_range_at_it():
    q = keys.plan("GOES-East", "ABI-L2-CMIP", "C", 13, "2025-04-06T23:30", "2025-04-07T00:30")
    g16, g19 = q.segments
    assert (g16.satellite, g19.satellite) == ("G16", "G19")
    assert g16.end < datetime(2025, 4, 7, tzinfo=UTC) == g19.start
    assert [p for _, p in q.listings()] == [
        "noaa-goes16/ABI-L2-CMIPC/2025/096/23/OR_ABI-L2-CMIPC-M",
        "noaa-goes19/ABI-L2-CMIPC/2025/097/00/OR_ABI-L2-CMIPC-M",
    ]
    listed = [scan(datetime(2025, 4, 6, 23, 56, 17, tzinfo=UTC), sat="G16")]
    listed += [scan(datetime(2025, 4, 7, 0, 1, 17, tzinfo=UTC), sat=s) for s in ("G16", "G19")]
    kept = keys.select(q, listed)
    assert [(s.satellite, f"{s.start:%H%M}") for s in kept] == [("G16", "2356"), ("G19", "0001")]


def test_select_keeps_band_sector_and_range():
    q = keys.plan("G16", "ABI-L2-CMIP", "C", 13, "2024-07-01T18:05", "2024-07-01T18:20")
    t = datetime(2024, 7, 1, 18, 1, 17, tzinfo=UTC)
    listed = [scan(t + timedelta(minutes=5 * k), band=b) for k in range(6) for b in (13, 14)]
    kept = keys.select(q, listed)
    assert [f"{s.start:%M}" for s in kept] == ["06", "11", "16"]
    assert {s.band for s in kept} == {13} and kept[0].product == "ABI-L2-CMIP" and kept[0].sector == "C"


def test_every_thins_on_slots_of_the_day():
    t = datetime(2024, 7, 1, 18, 1, 17, tzinfo=UTC)
    listed = [scan(t + timedelta(minutes=5 * k)) for k in range(12)]  # 18:01 .. 18:56
    q = keys.plan("G16", "CMIP", "C", 13, "2024-07-01T18:00", "2024-07-01T19:00", every="10min")
    assert q.every == timedelta(minutes=10)
    assert [f"{s.start:%M}" for s in keys.select(q, listed)] == ["01", "11", "21", "31", "41", "51"]
    # a later start picks the same scans (slots from midnight, not from the range start)
    q2 = keys.plan("G16", "CMIP", "C", 13, "2024-07-01T18:10", "2024-07-01T19:00", every="10min")
    assert [f"{s.start:%M}" for s in keys.select(q2, listed)] == ["11", "21", "31", "41", "51"]
    # a missing scan leaves its slot empty rather than shifting the others
    gappy = [s for s in listed if s.start.minute != 21]
    assert [f"{s.start:%M}" for s in keys.select(q, gappy)] == ["01", "11", "26", "31", "41", "51"]
    hourly = keys.plan("G16", "CMIP", "C", 13, "2024-07-01T18:00", "2024-07-01T19:00", every="1h")
    assert [f"{s.start:%M}" for s in keys.select(hourly, listed)] == ["01"]


def test_every_not_coarser_or_uneven_is_noted():
    fine = keys.plan("G16", "CMIP", "C", 13, "2024-07-01T18:00", "2024-07-01T19:00", every="5min")
    assert fine.every is None and "not coarser than the 5min cadence" in fine.notes[0]
    odd = keys.plan("G16", "CMIP", "C", 13, "2024-07-01T18:00", "2024-07-01T19:00", every="7min")
    assert odd.every == timedelta(minutes=7) and "not a multiple" in odd.notes[0]
    assert keys.parse_every("90s") == timedelta(seconds=90) and keys.parse_every(2) == timedelta(minutes=2)


def test_remote_scan_fields_come_from_discover():
    s = scan(datetime(2024, 7, 1, 18, 1, 17, 200_000, tzinfo=UTC), sector="M1", band=2)
    assert (s.satellite, s.product, s.sector, s.mode, s.band) == ("G16", "ABI-L2-CMIP", "M1", 6, 2)
    assert s.key.startswith("ABI-L2-CMIPM/2024/183/18/OR_ABI-L2-CMIPM1-M6C02_G16_s20241831801172")
    assert s.url == f"s3://noaa-goes16/{s.key}" and s.end - s.start == timedelta(minutes=2)
    assert keys.remote_scan("noaa-goes16", "ABI-L2-CMIPC/2024/183/18/index.html", 5) is None


def test_noaa_url_parses_into_a_checked_request():
    r = keys.parse_noaa_url("noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01T18:00&end=2025-06-01T20:00&every=10min")
    assert (r.satellite, r.product, r.sector, r.band, r.every) == ("G19", "ABI-L2-CMIP", "C", 13, "10min")
    assert r.url == "noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01T18:00&end=2025-06-01T20:00&every=10min"
    assert keys.parse_noaa_url(r.url) == r  # the canonical spelling reads back the same
    # other spellings: a slot, the product and sector apart, an escaped '+' offset, the band from a flag
    east = keys.parse_noaa_url(
        "NOAA://goes-east/CMIP?sector=conus&start=2025-06-01T18:00%2B00:00&end=2025-06-01", band="C13"
    )
    assert (east.satellite, east.product, east.sector, east.band) == ("GOES-East", "ABI-L2-CMIP", "C", 13)
    assert keys.parse_noaa_url(
        "noaa://G16/ABI-L2-CMIPC?band=13&start=2024-07-01T18:00+00:00&end=2024-07-01T19:00"
    ).start
    mcmip = keys.parse_noaa_url("noaa://G18/ABI-L2-MCMIPF?start=2024-07-01&end=2024-07-01", band=13)
    assert mcmip.band is None  # a multi-band product: the flag's band is what is read, not what is listed
    assert keys.plan(**east.find_kwargs()).segments[0].satellite == "G19"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://noaa-goes19/x", "not a noaa:// URL"),
        ("noaa://G19?band=13", "expected noaa://SATELLITE/PRODUCT"),
        ("noaa://G15/ABI-L2-CMIPC?band=13&start=2025-06-01&end=2025-06-01", "unknown satellite 'G15'"),
        ("noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01", "give end="),
        ("noaa://G19/ABI-L2-CMIPC?bands=13&start=2025-06-01&end=2025-06-01", "unknown query field 'bands'"),
        ("noaa://G19/ABI-L2-CMIPC?band=13&band=14&start=2025-06-01&end=2025-06-01", "band= given twice"),
        ("noaa://G19/ABI-L2-CMIPC?band=&start=2025-06-01&end=2025-06-01", "band= has no value"),
        ("noaa://G19/ABI-L2-CMIP?band=13&start=2025-06-01&end=2025-06-01", "give the sector"),
        ("noaa://G19/ABI-L2-CMIPC?sector=F&band=13&start=2025-06-01&end=2025-06-01", "names sector C"),
        ("noaa://G19/ABI-L2-CMIPC?start=2025-06-01&end=2025-06-01", "written per band"),
        ("noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01T19:00&end=2025-06-01T18:00", "empty time range"),
        ("noaa://G19/ABI-L2-CMIPC?band=13&start=yesterday&end=2025-06-01", "not an ISO date"),
        ("noaa://G19/ABI-L2-CMIPC?band=13&start=2025-06-01&end=2025-06-01&every=often", "every='often'"),
    ],
)
def test_noaa_url_mistakes_name_the_part(url, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        keys.parse_noaa_url(url)
