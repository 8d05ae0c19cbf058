"""One line that says which machine a benchmark table comes from (printed by every benchmarks/*.py).

CPUs of one "kind" differ by 2–9× on this code (issue 15: an AVX2-only EPYC against the README's
AVX512 host), so a table's seconds mean little without the CPU model, torch's vector capability and
its thread count beside them; targets are stated as ratios to a peer measured in the same run.
"""

from __future__ import annotations

import os

from goesvfi_lab.interp.costs import cpu_model  # one reader of /proc/cpuinfo


def machine_line() -> str:
    """E.g. ``CPU: Intel(R) Xeon(R) Processor, 2 logical cores; torch 2.13.0+cpu, capability AVX512, 2 threads``."""
    try:
        import torch

        cap = torch.backends.cpu.get_cpu_capability()
        torch_part = f"torch {torch.__version__}, CPU capability {cap}, {torch.get_num_threads()} threads"
    except Exception as exc:  # noqa: BLE001 — the line must never stop a benchmark
        torch_part = f"torch unavailable ({type(exc).__name__})"
    return f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; {torch_part}"


def print_machine() -> None:
    print(machine_line(), flush=True)
