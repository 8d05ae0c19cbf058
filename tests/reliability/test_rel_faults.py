"""Faults during a batch, against ``dask scheduler`` + ``dask worker`` processes on 127.0.0.1.

What tests/test_engine_cluster.py already shows (one worker SIGKILL, a client process SIGKILLed and a
new one reopening the store, two queues in one process) is not repeated; this adds: the same worker
killed twice in a row, the ``goesvfi-lab run`` process SIGKILLed and run again, the scheduler
restarted under a running queue, the scheduler gone for good, and two processes on one store and
one output tree. Every outcome is checked on disk: frames decode, counts match, nothing partial.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import _engine_scenarios as scenarios
import dask
import pytest
from _engine_support import SubprocessCluster, make_frames, wait_for
from _rel_support import RestartableCluster, assert_completed_on_disk, cli, leftovers
from distributed import Client

from goesvfi_lab.cli.batch import STORE_NAME
from goesvfi_lab.model import JobStatus
from goesvfi_lab.queue import BatchQueue
from goesvfi_lab.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def _batch(q, tmp_path, n_jobs=8, n=6, size=160, factor=8):
    return [q.add_job(scenarios.job(tmp_path, f"j{i}", n=n, size=size, factor=factor)) for i in range(n_jobs)]


def test_same_worker_sigkilled_twice_in_a_row_loses_nothing(tmp_path):
    with (
        SubprocessCluster(tmp_path / "cluster", {"a": [], "b": []}) as cluster,
        Client(cluster.address, timeout=60) as client,
    ):
        q = scenarios.queue(client, tmp_path)
        ids = _batch(q, tmp_path, n_jobs=8, size=192)
        q.start(preload=["linear"])
        try:
            killed = []
            for _round in range(2):
                floor = q.stats().frames_done
                wait_for(lambda floor=floor: q.stats().frames_done > floor + 20, 120, what="work under way")
                assert q.stats().completed < len(ids), "the batch finished before the kill: make it bigger"
                pid = cluster.worker_pid("a")
                assert pid not in killed  # the second kill hits the nanny's replacement process
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                wait_for(lambda: cluster.worker_pid("a") not in killed, 60, what="the nanny's replacement")
            assert q.wait(240)
        finally:
            q.stop()
    jobs = [q.job(j) for j in ids]
    assert_completed_on_disk(jobs)
    assert leftovers(tmp_path / "out") == []
    assert sum(j.frames_done for j in jobs) == sum(j.frames_total for j in jobs) == 8 * 41


def test_cli_run_sigkilled_mid_batch_then_run_again_finishes_without_redoing(shared_cluster, tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    for i in range(8):
        make_frames(root / f"seq{i}", 6, 160, seed=i)
    args = [
        "run",
        str(root),
        "-o",
        str(out),
        "--scheduler",
        shared_cluster.address,
        "--factor",
        "8",
        "--method",
        "linear",
        "--quiet",
    ]
    first = cli(*args)
    try:
        wait_for(lambda: 1 <= len(list(out.glob("*/job.json"))) < 8, 180, 0.02, "some jobs finished, not all")
    finally:
        first.send_signal(signal.SIGKILL)  # no clean-up of any kind: locks, claims and temporaries stay
        first.wait(30)
    # when each assemble wrote its manifest (the self-check adds its score to the file after)
    finished = {p.parent.name: json.loads(p.read_text())["written_at"] for p in out.glob("*/job.json")}
    with Store(out / STORE_NAME) as peek:  # a bare look, no recovery
        states = {j.name: j.status for j in peek.jobs()}
    assert len(states) == 8 and set(states.values()) & {JobStatus.QUEUED, JobStatus.RUNNING}

    second = cli(*args)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    with Store(out / STORE_NAME) as store:
        jobs = store.jobs()
    assert len(jobs) == 8  # resumed the same jobs, none added twice
    assert_completed_on_disk(jobs)
    assert leftovers(out) == []  # the dead process's locks were stale (its pid is gone) and are released
    for name, stamp in finished.items():  # done before the kill: found complete, not recomputed
        assert json.loads((out / name / "job.json").read_text())["written_at"] == stamp
    check = cli("check", str(out))
    report, _ = check.communicate(timeout=120)
    assert check.returncode == 0 and "8 job folders, 8 ok" in report, report


def test_scheduler_restart_mid_batch_queue_reconnects_and_finishes(tmp_path):
    cluster = RestartableCluster(tmp_path / "cluster", {"a": [], "b": []}).start()
    try:
        with Client(cluster.address, timeout=60) as client:
            q = scenarios.queue(client, tmp_path)
            ids = _batch(q, tmp_path)
            q.start(preload=["linear"])
            try:
                wait_for(lambda: q.stats().frames_done > 30, 120, what="work under way")
                assert q.stats().completed < len(ids)
                cluster.kill_all()  # SIGKILL the scheduler and every worker
                cluster.start()  # same address: the client reconnects by itself
                assert q.wait(240)
            finally:
                q.stop()
    finally:
        cluster.close()
    jobs = [q.job(j) for j in ids]
    assert_completed_on_disk(jobs)
    interrupted = {e[2] for e in q.events_seen if e[1] == "job_retrying" and e[3].get("interrupted")}
    assert interrupted, "no job was in flight at the restart"
    assert all(j.attempts == 0 for j in jobs)  # an interruption is not the job's fault: no attempt counted
    assert not [e for e in q.events_seen if e[1] == "job_failed"]
    assert leftovers(tmp_path / "out") == []


def test_scheduler_gone_for_good_fails_clearly_and_the_store_resumes_later(tmp_path):
    cluster = RestartableCluster(tmp_path / "cluster", {"a": [], "b": []}).start()
    store_path = tmp_path / "queue.sqlite3"
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "5s"}):  # the client gives up after 5 s
            q = BatchQueue(cluster=cluster.address, store=store_path)  # an address: the queue owns its client
            ids = _batch(q, tmp_path)
            q.start(preload=["linear"])
            wait_for(lambda: q.stats().frames_done > 30, 120, what="work under way")
            done_before = {j.id for j in q.jobs(JobStatus.COMPLETED)}
            cluster.kill_all()
            t0 = time.monotonic()
            with pytest.raises(RuntimeError, match=f"lost the Dask scheduler at {cluster.address}") as err:
                q.wait(120)
            assert time.monotonic() - t0 < 60
            assert str(store_path) in str(err.value) and "start() again" in str(err.value)
            assert q.paused and "lost the Dask scheduler" in q.paused_reason
            with Store(store_path) as peek:  # intact: every job there, none left claimed, nothing lost
                assert peek._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                jobs = {j.id: j for j in peek.jobs()}
            assert set(jobs) == set(ids)
            assert {j.status for j in jobs.values()} <= {JobStatus.PENDING, JobStatus.COMPLETED}
            assert done_before <= {j for j, job in jobs.items() if job.status == JobStatus.COMPLETED}
            assert any(j.status == JobStatus.PENDING for j in jobs.values())
            assert not [p for p in leftovers(tmp_path / "out") if p.endswith(".goesvfi.lock")]  # locks released

            cluster.start()  # back: the same queue object connects again and carries on
            q.start(preload=["linear"])
            try:
                assert q.wait(240)
            finally:
                q.stop()
    finally:
        cluster.close()
    assert_completed_on_disk([q.job(j) for j in ids])
    assert leftovers(tmp_path / "out") == []


_TWIN = textwrap.dedent(
    """
    import json, os, sys, time
    from distributed import Client
    from goesvfi_lab.queue import BatchQueue

    address, store, root, out, go = sys.argv[1:6]
    client = Client(address, timeout=60)
    q = BatchQueue(cluster=client, store=store)
    ids = q.add_directory(root, out, pattern="*.png", factor=4, method="linear")
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.01)
    q.start(preload=["linear"])
    ok = q.wait(240)
    time.sleep(1.0)  # let the last pair results reach this queue's counters
    print(json.dumps({"ok": ok, "ids": ids, "computed": q.frames_computed}), flush=True)
    q.stop()
    client.close()
    """
)


def test_two_processes_on_one_store_and_tree_do_every_job_exactly_once(shared_cluster, tmp_path):
    root, out, store, go = tmp_path / "in", tmp_path / "out", tmp_path / "shared.sqlite3", tmp_path / "go"
    for i in range(6):
        make_frames(root / f"seq{i}", 5, 96, seed=10 + i)
    env = {**os.environ, "DASK_GOESVFI__QUEUE__LOCK_RETRY": "0.3", "DASK_GOESVFI__QUEUE__METRICS_INTERVAL": "0.1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TWIN, shared_cluster.address, str(store), str(root), str(out), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        go.touch()  # both start feeding at the same moment
        reports = [json.loads(p.stdout.readline()) for p in procs]
        for p in procs:
            assert p.wait(60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(r["ok"] for r in reports)
    with Store(store) as s:
        jobs = s.jobs()
    assert len(jobs) == 12  # each process added the batch: two jobs per output folder
    by_folder: dict[str, list] = {}
    for job in jobs:
        by_folder.setdefault(job.output_dir, []).append(job)
    assert len(by_folder) == 6
    computed = {}
    for r in reports:
        for jid, n in r["computed"].items():
            computed[jid] = computed.get(jid, 0) + n
    for folder, pair in by_folder.items():
        assert {j.status for j in pair} == {JobStatus.COMPLETED}
        frames = sum(computed.get(j.id, 0) for j in pair)
        assert frames == 17, (folder, frames)  # (5-1)*4+1 frames, each computed by exactly one process
        skipped = [j for j in pair if any(n.startswith("skipped: complete") for n in j.notes)]
        assert len(skipped) == 1, [j.notes for j in pair]  # the other job found the folder complete
        assert_completed_on_disk(pair[:1])
    assert leftovers(out) == []


def test_finished_pairs_lost_with_their_worker_before_the_queue_saw_them_are_waited_for(tmp_path):
    """The soak's race, made certain: pairs finish, the queue's control thread is held, their worker is
    SIGKILLed (the results are "lost" and must be computed again), then the queue handles them."""
    from distributed import Event

    with (
        SubprocessCluster(tmp_path / "cluster", {"a": ["--resources", "GPU=1"], "b": []}) as cluster,
        Client(cluster.address, timeout=60) as client,
    ):
        b = next(addr for addr, w in client.scheduler_info()["workers"].items() if w["name"] == "b")
        gate = Event(f"gate-{os.getpid()}", client=client)

        def hold(name):
            from distributed import Event

            Event(name).wait(120)

        blocker = client.submit(hold, gate.name, workers=[b], pure=False)  # b stays busy: pairs run on a only
        q = scenarios.queue(client, tmp_path)
        jid = q.add_job(scenarios.job(tmp_path, "lost", n=3, size=256, factor=16, settings={"device": "gpu"}))
        wait_for(lambda: scenarios.executing(client) >= 1, 30, what="the gate task")
        q.start(preload=["linear"])
        try:
            sub = q._submitter
            wait_for(lambda: q.inflight == 3, 60, 0.005, "both pairs and the assemble task submitted")

            def kill_while_held():
                pairs = lambda: [f for k, f in sub.futures.items() if "-asm-" not in k]  # noqa: E731
                wait_for(
                    lambda: len(pairs()) == 2 and all(f.status == "finished" for f in pairs()),
                    60,
                    0.01,
                    "both pairs to finish",
                )
                os.kill(cluster.worker_pid("a"), signal.SIGKILL)
                wait_for(lambda: any(f.status != "finished" for f in pairs()), 30, 0.01, "the results to be lost")
                return [f.status for f in pairs()]

            statuses = sub.on_loop(kill_while_held)  # the control thread waits for the lock meanwhile
            assert set(statuses) - {"finished"}, statuses
            gate.set()
            blocker.result(30)
            assert q.wait(120), q.job(jid)
        finally:
            q.stop()
            gate.clear()
    assert_completed_on_disk([q.job(jid)])
