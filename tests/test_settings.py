"""The engine's settings: defaults only in goesvfi.yaml, read once when a queue starts."""

from __future__ import annotations

import dataclasses

import dask
import pytest
import yaml
from _engine_support import NO_DASHBOARD, make_frames
from distributed import Client, LocalCluster

from goesvfi_lab import config
from goesvfi_lab.engine.settings import EngineSettings
from goesvfi_lab.model import BatchJob, JobStatus
from goesvfi_lab.queue import BatchQueue


def _yaml_value(key: str):
    with open(config._DEFAULTS_FILE, encoding="utf-8") as f:
        node = yaml.safe_load(f)
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"{key} has no default in goesvfi.yaml"
        node = node[part]
    return node


def test_every_setting_has_its_default_in_the_yaml_and_none_in_python():
    for f in dataclasses.fields(EngineSettings):
        assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f.name
        _yaml_value(EngineSettings.key(f.name))
    shipped = EngineSettings.from_config()
    assert shipped.window_factor == float(_yaml_value("goesvfi.queue.window-factor"))
    assert shipped.retry_max_attempts == int(_yaml_value("goesvfi.retry.max-attempts"))
    assert shipped.timeout is None  # null in the YAML: no per-job timeout


def test_from_config_reflects_overrides_and_the_object_is_frozen():
    overrides = {EngineSettings.key(f.name): 7 for f in dataclasses.fields(EngineSettings)}
    with dask.config.set(overrides):
        s = EngineSettings.from_config()
    assert all(getattr(s, f.name) == 7 for f in dataclasses.fields(EngineSettings))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.window_factor = 1.0  # type: ignore[misc]


def test_a_key_missing_from_the_yaml_is_an_error_not_a_silent_none():
    with pytest.raises(KeyError):
        config.get("queue.no-such-setting")
    assert config.get("queue.no-such-setting", 3) == 3  # an explicit default still works


@pytest.fixture
def client():
    config = {"distributed.scheduler.worker-saturation": "inf", "goesvfi.queue.metrics-interval": 0.1}
    with (
        dask.config.set(config),
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, **NO_DASHBOARD) as cluster,
    ):
        with Client(cluster) as c:
            yield c


def test_a_config_change_after_start_does_not_reach_the_running_queue(client, tmp_path):
    """Documented: goesvfi.* settings are read by start(); the retry budget stays the one it started with."""
    inputs = make_frames(tmp_path / "in", 3, 32)
    missing = inputs[1] + ".gone"  # an input that is not there: a failure that may go away, so retried
    q = BatchQueue(cluster=client, store=tmp_path / "queue.sqlite3")
    jid = q.add_job(
        BatchJob(name="late", inputs=[inputs[0], missing, inputs[2]], output_dir=str(tmp_path / "out"), method="linear")
    )
    with dask.config.set({"goesvfi.retry.max-attempts": 3, "goesvfi.retry.base": 0.2, "goesvfi.retry.cap": 0.2}):
        q.start(preload=["linear"])
    try:
        with dask.config.set({"goesvfi.retry.max-attempts": 1, "goesvfi.queue.window-factor": 99.0}):
            assert q._submitter.settings.retry_max_attempts == 3
            assert q._submitter.settings.window_factor == float(_yaml_value("goesvfi.queue.window-factor"))
            assert q.wait(60)
        job = q.job(jid)
        assert job.status == JobStatus.FAILED and job.attempts == 3, job
        assert "after 3 attempts" in job.error
    finally:
        q.stop()
