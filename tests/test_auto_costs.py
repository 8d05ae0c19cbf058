"""``auto`` on this machine's measured costs (goesvfi_lab/interp/costs.py), cached per machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import dask
import pytest
import torch

from goesvfi_lab import interp
from goesvfi_lab.interp import auto, costs

CPU = torch.device("cpu")


@pytest.fixture
def measured(tmp_path):
    """``auto-costs: measured`` with a cache folder of the test's own."""
    costs.clear_memo()
    with dask.config.set({"goesvfi.interp.auto-costs": "measured", "goesvfi.interp.cost-cache": str(tmp_path)}):
        yield tmp_path
    costs.clear_memo()


def test_first_auto_times_the_methods_and_caches_them(measured, monkeypatch):
    methods = interp.available_methods()
    assert interp.resolve_method("auto", "cpu", "field") == "flow"
    (path,) = measured.glob("cpu-*.json")
    data = json.loads(path.read_text())
    assert data["machine"]["cpu"] == costs.cpu_model()
    assert data["machine"]["threads"] == torch.get_num_threads()
    table = data["costs"]
    assert set(table) == set(methods) - {"auto"}
    for m, per_kind in table.items():
        assert set(per_kind) == {"video", "field"} and all(v > 0 for v in per_kind.values()), m
    assert table["linear"]["video"] < table["fast"]["video"] < table["flow"]["video"]
    assert table["flow"]["field"] < table["flow"]["video"]  # the field parameters take shortcuts
    if "ensemble" in table:
        passes = int(dask.config.get("goesvfi.rife.tta"))
        fast = table["fast"]["video"] if dask.config.get("goesvfi.rife.fast-weight") > 0 else 0.0
        assert table["ensemble"]["video"] == pytest.approx(table["rife"]["video"] * passes + fast)
        assert table["ensemble"]["field"] == pytest.approx(table["rife"]["video"] * passes)  # no fast member

    # a new process (no memo) reads the file instead of timing again
    costs.clear_memo()
    monkeypatch.setattr(costs, "time_method", lambda *a, **k: pytest.fail("timed again despite the cache"))
    assert interp.resolve_method("auto", "cpu", "field") == "flow"


def _write_table(folder, table: dict) -> None:
    path = folder / costs.cache_path(CPU).name
    path.write_text(json.dumps({"machine": costs.machine_key(CPU), "size": 256, "costs": table}))


def test_a_slow_machine_gets_a_cheaper_method(measured):
    # an AVX2-only host where RIFE's convolutions run 5× slower than the source table says
    slow = {
        "linear": {"video": 0.02, "field": 0.02},
        "fast": {"video": 0.3, "field": 0.3},
        "flow": {"video": 9.0, "field": 0.4},
        "rife": {"video": 12.0, "field": 12.0},
        "ensemble": {"video": 48.0, "field": 48.0},
    }
    _write_table(measured, slow)
    everything = ["linear", "flow", "fast", "rife", "ensemble"]
    assert auto.choose(CPU, "video", everything) == "fast"  # budget 10: ensemble and rife do not fit
    assert auto.choose(CPU, "field", everything) == "flow"
    with dask.config.set({"goesvfi.interp.auto-costs": "table"}):
        assert auto.choose(CPU, "video", everything) == "ensemble"  # the source's figures say it fits


def test_a_method_added_later_is_timed_and_added(measured):
    _write_table(measured, {"linear": {"video": 0.02, "field": 0.02}})
    table = costs.measured_costs(CPU, ["linear", "fast"])
    assert table["linear"]["video"] == 0.02  # kept, not re-timed
    assert table["fast"]["video"] > 0
    on_disk = json.loads((measured / costs.cache_path(CPU).name).read_text())["costs"]
    assert set(on_disk) == {"linear", "fast"}


def test_another_thread_count_is_another_machine(measured):
    before = costs.cache_path(CPU)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads > 1 else 2)
        assert costs.cache_path(CPU) != before
    finally:
        torch.set_num_threads(threads)


def test_parallel_processes_measure_once(tmp_path):
    """Two processes asking at once: the filelock makes one time the methods, the other read its file."""
    log = tmp_path / "timed.log"
    script = textwrap.dedent(
        f"""
        import os
        import dask
        import goesvfi_lab.config
        from goesvfi_lab.interp import costs
        import torch
        real = costs.time_method
        def counted(method, kind, device, repeats=2):
            with open({str(log)!r}, "a") as fh:
                fh.write(f"{{os.getpid()}} {{method}} {{kind}}\\n")
            return real(method, kind, device, repeats)
        costs.time_method = counted
        with dask.config.set({{"goesvfi.interp.cost-cache": {str(tmp_path / "cache")!r}}}):
            print(costs.measured_costs(torch.device("cpu"), ["linear", "flow"])["flow"]["field"])
        """
    )
    env = {**os.environ, "DASK_GOESVFI__INTERP__AUTO_COSTS": "measured"}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    lines = log.read_text().splitlines()
    assert len({line.split()[0] for line in lines}) == 1, lines  # one process timed
    assert sorted(line.split(maxsplit=1)[1] for line in lines) == ["flow field", "flow video", "linear video"]
    assert outs[0] == outs[1]  # both use the same figures


def test_unknown_cost_source_is_refused():
    with dask.config.set({"goesvfi.interp.auto-costs": "guess"}):
        with pytest.raises(ValueError, match="measured' or 'table"):
            auto.choose(CPU, "video", ["linear", "flow"])
