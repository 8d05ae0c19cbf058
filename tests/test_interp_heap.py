"""The allocator scope around backend calls: active during a call, nested/concurrent-safe, restored after."""

from __future__ import annotations

import threading

import numpy as np

from goesvfi_lab import interp
from goesvfi_lab.interp import heap


def test_a_backend_call_runs_inside_the_scope_and_leaves_it(monkeypatch):
    """Under the nanny's variable a call is scoped; without it the allocator is left alone."""
    calls = []
    monkeypatch.setattr(heap, "_settings", lambda values: calls.append(dict(values)))  # keep pytest's heap as is
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    seen = []
    backend = interp.get_backend("linear", "cpu")
    real = type(backend).run

    def spy(self, *a, **k):
        seen.append(heap.active())
        return real(self, *a, **k)

    monkeypatch.setattr(type(backend), "run", spy)
    a, b = np.zeros((32, 32), np.uint8), np.full((32, 32), 200, np.uint8)
    y = interp.interpolate(a, b, 0.5, method="linear", device="cpu")
    assert int(y[0, 0]) == 100 and not heap.active()
    if heap._glibc() is None:
        assert seen == [False] and calls == []
        return
    assert seen == [True] and len(calls) == 2

    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"):
        monkeypatch.delenv(name, raising=False)
    seen.clear()
    interp.interpolate(a, b, 0.5, method="linear", device="cpu")
    assert seen == [False] and len(calls) == 2  # glibc's sliding threshold stays on


def test_nested_and_concurrent_scopes_share_one(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "_settings", lambda values: calls.append(dict(values)))
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # as Dask's nanny starts a worker
    inside, release = threading.Barrier(3), threading.Event()

    def worker():
        with heap.roomy_heap():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    with heap.roomy_heap():
        inside.wait()
        with heap.roomy_heap():
            assert heap.active()
        release.set()
    for t in threads:
        t.join()
    if heap._glibc() is None:
        assert calls == [] and not heap.active()
        return
    assert calls[0] == heap.ROOMY and len(calls) == 2  # entered once, restored once, for three overlapping users
    assert calls[1][heap.M_TRIM_THRESHOLD] == 65536 and calls[1][heap.M_MMAP_THRESHOLD] == 128 * 1024
    assert not heap.active()
