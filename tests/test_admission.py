"""Admission, transitions' inputs and the scheduler summaries, without a cluster."""

from __future__ import annotations

import json
import os

import pytest
from _engine_support import make_frames

from goesvfi_lab.engine import admission, layout
from goesvfi_lab.engine.metrics import SchedulerMetrics
from goesvfi_lab.errors import FrameError, OutputConflict
from goesvfi_lab.model import BatchJob


def _job(tmp_path, **kw) -> BatchJob:
    inputs = kw.pop("inputs", None) or make_frames(tmp_path / "in", 3, 16)
    return BatchJob(name="j", inputs=inputs, output_dir=str(tmp_path / "out"), method="linear", **kw)


@pytest.mark.parametrize(
    "settings, method, gpus, expected",
    [
        ({}, "flow", 0, (False, "cpu")),
        ({}, "flow", 2, (True, "auto")),
        ({}, "linear", 2, (False, "cpu")),  # linear never takes a GPU slot by itself
        ({"device": "cpu"}, "flow", 2, (False, "cpu")),
        ({"device": "gpu"}, "flow", 1, (True, "auto")),
        ({"device": "gpu", "fallback_cpu": True}, "flow", 0, (False, "cpu")),
    ],
)
def test_placement(tmp_path, settings, method, gpus, expected):
    job = BatchJob(name="j", inputs=["a", "b"], output_dir=str(tmp_path), method=method, settings=settings)
    assert admission.placement(job, gpus) == expected


def test_placement_without_gpu_says_what_to_do():
    reason = admission.placement(BatchJob(name="j", inputs=["a", "b"], output_dir="o", settings={"device": "gpu"}), 0)
    assert isinstance(reason, str) and "--resources GPU=1" in reason and "fallback_cpu" in reason


def test_prepare_records_the_result_spec_then_skips_or_refuses(tmp_path):
    job = _job(tmp_path)
    admitted = admission.prepare(job, gpu=False)
    assert admitted.skip is None and admitted.total == 5 and admitted.changes == {}
    started = json.load(open(os.path.join(job.output_dir, layout.STARTED)))
    assert started["job_id"] == job.id and started["spec"]["factor"] == 2

    again = _job(tmp_path, inputs=job.inputs)  # same result, unfinished: resumed
    assert admission.prepare(again, gpu=False).skip is None

    manifest = {
        "format": layout.MANIFEST_FORMAT,
        "job_id": job.id,
        "frames": 5,
        "methods_used": ["linear"],
        **layout.result_spec(job.inputs, 2, "linear", {}),
    }
    json.dump(manifest, open(os.path.join(job.output_dir, layout.MANIFEST), "w"))
    for i in range(5):
        open(layout.frame_path(job.output_dir, i), "wb").close()
    done = admission.prepare(_job(tmp_path, inputs=job.inputs, settings={"timeout": 9}), gpu=False)
    assert done.skip == f"skipped: complete from job {job.id} (same settings)"
    assert done.changes["notes"] == [done.skip]

    with pytest.raises(OutputConflict, match=r"method linear → flow.*overwrite=True"):
        admission.prepare(BatchJob(name="k", inputs=job.inputs, output_dir=job.output_dir, method="flow"), gpu=False)
    redo = BatchJob(name="k", inputs=job.inputs, output_dir=job.output_dir, method="flow", settings={"overwrite": True})
    assert admission.prepare(redo, gpu=False).skip is None
    assert not os.path.exists(os.path.join(job.output_dir, layout.MANIFEST))  # the other result was removed


def test_prepare_repairs_inputs_with_notes_and_refuses_what_cannot_run(tmp_path):
    inputs = make_frames(tmp_path / "in", 3, 16)
    dup = tmp_path / "in" / "copy.png"
    dup.write_bytes(open(inputs[1], "rb").read())
    job = _job(tmp_path, inputs=[inputs[0], inputs[1], str(dup), inputs[2]], settings={"device": "gpu"})
    admitted = admission.prepare(job, gpu=False)
    assert admitted.inputs == inputs and admitted.changes["frames_total"] == 5
    assert admitted.changes["notes"][0] == admission.GPU_FALLBACK_NOTE
    assert "duplicate input skipped" in admitted.changes["notes"][1]
    twin = tmp_path / "in" / "twin.png"
    twin.write_bytes(open(inputs[0], "rb").read())
    with pytest.raises(FrameError, match="only distinct input frame"):
        admission.prepare(BatchJob(name="t", inputs=[inputs[0], str(twin)], output_dir=str(tmp_path / "t")), gpu=False)
    with pytest.raises(ValueError, match="no input frames"):
        admission.prepare(BatchJob(name="e", inputs=[], output_dir=str(tmp_path / "e")), gpu=False)


def test_scheduler_summaries_count_frames_of_known_attempts_only():
    m = SchedulerMetrics(history=2)
    m.remember("a", 3, factor=4, last_pair=1)
    m.remember("b", 1, factor=2, last_pair=0)
    out = m.read(
        {
            "type": "summary",
            "cluster": {"workers": 2, "threads": 4, "gpus": 1, "task_seconds": 0.2},
            "jobs": {
                "a": {"attempt": 3, "started": [0], "done": [0, 1]},
                "b": {"attempt": 0, "done": [0]},  # an older attempt: not counted
                "zzz": {"attempt": 1, "done": [0]},
            },
        }
    )
    assert out.frames == 4 + 5 and out.started == [("a", 3)]
    assert (out.slots.threads, out.slots.gpus, out.task_seconds) == (4, 1, 0.2)
    m.remember("c", 1, 2, 0)
    assert list(m.shapes) == ["b", "c"]  # bounded history
    assert m.read({"type": "memory-kill", "worker": "tcp://w:1", "rss": 5, "limit": 4}) is None
    assert m.memory_kills == {"tcp://w:1": (5, 4)}
    assert m.read("not a dict") is None


def test_tiny_pairs_share_a_task_and_their_keys_say_which():
    from goesvfi_lab.engine.plugins import key_pairs, parse_key, task_key
    from goesvfi_lab.policy import pairs_per_task

    assert pairs_per_task(None) == 1 and pairs_per_task(0.2) == 1  # unknown, or long enough alone
    assert pairs_per_task(0.005) == 10 and pairs_per_task(1e-6) == 32  # capped
    assert task_key("j1", (3,), 2) == "vfi-j1-3-a2" and task_key("j1", (3, 4, 5), 2) == "vfi-j1-3_5-a2"
    assert parse_key("vfi-j1-3_5-a2") == ("j1", (3, 5), 2) and key_pairs((3, 5)) == [3, 4, 5]
    assert parse_key("vfi-j1-5_3-a2") is None and key_pairs("asm") == [] and key_pairs(4) == [4]
