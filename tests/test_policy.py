"""The pure queue policy: ordering, Dask priority encoding, backoff, circuit breaker, ETA maths."""

from __future__ import annotations

import random

import pytest

from goesvfi_lab import policy
from goesvfi_lab.model import JobPriority
from goesvfi_lab.policy import CircuitBreaker, Entry, ThroughputMeter


def _entries():
    # (id, priority, seq, frames, owner)
    rows = [
        ("a", 2, 1, 30, "ann"),
        ("b", 4, 2, 90, "bob"),
        ("c", 2, 3, 10, "ann"),
        ("d", 0, 4, 5, "cat"),
        ("e", 4, 5, 20, "ann"),
        ("f", 2, 6, 10, "bob"),
    ]
    return [Entry(*r) for r in rows]


def ids(entries):
    return [e.id for e in entries]


def test_priority_orders_levels_then_fifo():
    assert ids(policy.order(_entries(), "priority")) == ["b", "e", "a", "c", "f", "d"]


def test_fifo_ignores_priority():
    assert ids(policy.order(_entries(), "fifo")) == ["a", "b", "c", "d", "e", "f"]


def test_sjf_fewest_frames_first_ties_by_priority_then_arrival():
    assert ids(policy.order(_entries(), "sjf")) == ["d", "c", "f", "e", "a", "b"]


def test_fair_round_robins_over_owners():
    # every owner gets one job before anyone gets a second (most urgent head first);
    # inside an owner: priority then FIFO (ann: URGENT e, then a, c in arrival order)
    assert ids(policy.order(_entries(), "fair")) == ["b", "e", "d", "a", "f", "c"]


def test_fair_lets_owner_with_running_work_wait():
    out = ids(policy.order(_entries(), "fair", active={"ann": 2, "bob": 1}))
    assert out == ["d", "b", "e", "f", "a", "c"]  # cat has nothing running; bob (1) before ann (2)


def test_order_is_deterministic_and_total():
    entries = _entries()
    for pol in policy.POLICIES:
        shuffled = entries[:]
        random.Random(3).shuffle(shuffled)
        assert ids(policy.order(shuffled, pol)) == ids(policy.order(entries, pol))
        assert sorted(ids(policy.order(entries, pol))) == sorted(ids(entries))


def test_unknown_policy_is_rejected():
    with pytest.raises(ValueError, match="unknown policy 'lifo'"):
        policy.order(_entries(), "lifo")


def test_positions_start_at_one():
    assert policy.positions(policy.order(_entries())) == {"b": 1, "e": 2, "a": 3, "c": 4, "f": 5, "d": 6}


@pytest.mark.parametrize("target", [1, 2, 3, 4, 5, 6])
def test_move_lands_where_asked_under_priority_and_fifo(target):
    for pol in ("priority", "fifo"):
        ordered = policy.order(_entries(), pol)
        for job in ids(ordered):
            seq, prio = policy.move_seq(ordered, job, target, pol)
            moved = [Entry(e.id, prio, seq, e.frames, e.owner) if e.id == job else e for e in ordered]
            assert ids(policy.order(moved, pol)).index(job) == target - 1, (pol, job, target)


def test_move_across_levels_adopts_neighbour_priority():
    ordered = policy.order(_entries(), "priority")  # b e a c f d
    seq, prio = policy.move_seq(ordered, "d", 1)
    assert prio == 4 and seq < 2
    seq, prio = policy.move_seq(ordered, "b", 6)
    assert prio == 0 and seq > 4


def test_move_out_of_range_clamps():
    ordered = policy.order(_entries(), "priority")
    seq, prio = policy.move_seq(ordered, "a", 99)
    assert prio == 0
    with pytest.raises(KeyError):
        policy.move_seq(ordered, "zzz", 1)


def test_dask_priority_encodes_levels_and_fifo():
    keys = [(lvl, s) for lvl in JobPriority for s in (0, 1, 7, 999_999_999)]
    by_dask = sorted(keys, key=lambda k: -policy.dask_priority(k[0], k[1]))
    assert by_dask == sorted(keys, key=lambda k: (-k[0], k[1]))
    assert policy.dask_priority(3, 5) == 3 * 10**9 - 5
    with pytest.raises(ValueError):
        policy.dask_priority(2, 10**9)


def test_window_size():
    assert policy.window_size(4) == 8
    assert policy.window_size(3, 1.5) == 5
    assert policy.window_size(0) == 0


def test_backoff_grows_exponentially_until_cap():
    delays = [policy.backoff_delay(a, base=0.5, cap=10) for a in range(8)]
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert policy.backoff_delay(5000, base=1, cap=30) == 30
    with pytest.raises(ValueError):
        policy.backoff_delay(-1)


def test_circuit_breaker_opens_after_consecutive_failures_only():
    cb = CircuitBreaker(3)
    assert not cb.record_failure("x")
    assert not cb.record_failure("y")
    cb.record_success()
    assert not cb.record_failure("a") and not cb.record_failure("b")
    assert cb.record_failure("disk full")
    assert cb.is_open and "3 consecutive failures" in cb.reason and "disk full" in cb.reason
    assert not cb.record_failure("again")  # already open: opens once
    cb.reset()
    assert not cb.is_open and cb.consecutive == 0


def test_circuit_breaker_disabled():
    cb = CircuitBreaker(0)
    assert not any(cb.record_failure() for _ in range(100))


def test_throughput_over_recent_window():
    now = [0.0]
    meter = ThroughputMeter(window=10, clock=lambda: now[0])
    assert meter.rate() == 0.0
    for t in range(1, 6):  # 4 frames per second for 5 s
        now[0] = float(t)
        meter.add(4)
    assert meter.rate() == pytest.approx(20 / 5)
    now[0] = 30.0  # long idle: nothing in the window
    assert meter.rate() == 0.0
    meter.add(10)  # the first result after a long idle: when its work began is not known, so no rate yet
    assert meter.rate() == 0.0
    now[0] = 32.0
    meter.add(10)
    assert meter.rate() == pytest.approx(10 / 2)


def test_eta_success_progress():
    assert policy.eta_seconds(100, 4) == 25
    assert policy.eta_seconds(100, 0) is None
    assert policy.eta_seconds(0, 0) == 0
    assert policy.success_rate(0, 0) is None
    assert policy.success_rate(3, 1) == 0.75
    assert policy.progress(5, 10) == 0.5
    assert policy.progress(5, 0) == 0.0
    assert policy.progress(15, 10) == 1.0


# --- throughput and ETA: one definition (issue 11, item 7) -----------------------------------------


def _steady(meter, now, start, stop, every=0.5, frames=1):
    """Feed ``frames`` every ``every`` s over (start, stop]: a cluster working at a steady speed."""
    t = start + every
    while t <= stop + 1e-9:
        now[0] = t
        meter.add(frames)
        t += every


def test_throughput_is_steady_when_speed_is_after_an_idle_start():
    # the queue started at 0, the user chose files for 30 s, then work ran at 2 frames/s: the figure
    # must read 2 frames/s from the first measurements on, not climb while the window fills
    now = [0.0]
    meter = ThroughputMeter(window=60, clock=lambda: now[0])
    meter.reset()
    for t in (35.0, 45.0, 60.0, 89.0, 120.0):
        _steady(meter, now, max(now[0], 30.0), t)
        assert meter.rate() == pytest.approx(2.0, rel=0.05), t


def test_throughput_counts_from_when_work_began_not_from_the_first_result():
    now = [100.0]
    meter = ThroughputMeter(window=60, clock=lambda: now[0])
    now[0] = 104.0
    meter.add(8)  # the first result: 8 frames made since the job began at 100
    meter.begin(100.0)  # the job_started event can arrive after its first frames
    assert meter.rate() == pytest.approx(2.0)


def test_throughput_decays_to_zero_when_idle():
    now = [0.0]
    meter = ThroughputMeter(window=10, clock=lambda: now[0])
    _steady(meter, now, 0.0, 20.0, every=1.0, frames=4)
    meter.observe(busy=False)
    readings = []
    for t in (20.0, 21.0, 24.0, 27.0, 29.0, 30.0, 40.0):
        now[0] = t
        readings.append(meter.rate())
    assert readings[0] == pytest.approx(4.0)
    assert all(a > b for a, b in zip(readings[:-2], readings[1:-1])), readings  # falls steadily …
    assert readings[-2:] == [0.0, 0.0]  # … to nothing once the window holds no work


def test_a_new_stretch_of_work_does_not_average_in_the_idle_gap():
    now = [0.0]
    meter = ThroughputMeter(window=60, clock=lambda: now[0])
    _steady(meter, now, 0.0, 10.0, frames=5)  # 10 frames/s, then 20 s with nothing to do
    now[0] = 10.5
    meter.observe(busy=False)
    now[0] = 30.0
    meter.observe(busy=True)  # a new batch
    _steady(meter, now, 30.0, 31.0, frames=1)  # 2 frames/s now
    assert meter.rate() == pytest.approx(2.0, rel=0.05)


def test_slow_pairs_keep_a_rate_while_work_continues():
    # one pair every 90 s on a 60 s window: while the queue is busy the last measured interval counts
    now = [0.0]
    meter = ThroughputMeter(window=60, clock=lambda: now[0])
    meter.observe(busy=True)
    meter.begin(0.0)
    for t in (90.0, 180.0):
        now[0] = t
        meter.add(9)
    for t in (181.0, 230.0, 265.0):
        now[0] = t
        assert 9 / 180 <= meter.rate() <= 9 / 90 + 1e-9, t


def test_pace_eta_is_unknown_without_jobs_or_measurements():
    work = [(0.0, 10.0, 20.0)]  # 20 frames over 10 s
    assert policy.pace([], now=1.0, window=60, remaining=0, jobs=0).eta_seconds is None  # no job yet
    assert policy.pace([], now=1.0, window=60, remaining=50, jobs=1).eta_seconds is None  # nothing measured
    done = policy.pace(work, now=10.0, window=60, remaining=0, jobs=3)
    assert done.eta_seconds == 0.0 and done.throughput == pytest.approx(2.0)
    p = policy.pace(work, now=10.0, window=60, remaining=30, jobs=3)
    assert p.eta_seconds == pytest.approx(15.0)
    # a job's interval half inside the window counts half its frames: 20 frames over the 20 s window
    assert policy.pace([(0.0, 20.0, 40.0)], now=30.0, window=20, remaining=0, jobs=1).throughput == pytest.approx(1.0)


def test_queue_state_is_one_word():
    assert policy.queue_state(started=False, paused=False, unfinished=3) == "idle"
    assert policy.queue_state(started=True, paused=False, unfinished=3) == "running"
    assert policy.queue_state(started=True, paused=False, unfinished=0) == "ready"
    assert policy.queue_state(started=True, paused=True, unfinished=3) == "paused"


def test_eta_label_for_finished_and_paused_queues():
    assert policy.eta_label("ready", unfinished=0, failed=0, total=0) is None  # no jobs: the ETA is unknown
    assert policy.eta_label("ready", unfinished=0, failed=0, total=4) == "done"
    assert policy.eta_label("ready", unfinished=0, failed=1, total=4) == "1 failed"  # not "done"
    assert policy.eta_label("paused", unfinished=2, failed=0, total=4) == "paused"
    assert policy.eta_label("running", unfinished=2, failed=1, total=4) is None  # the duration


def test_job_work_from_store_rows():
    from types import SimpleNamespace as J

    jobs = [
        J(started_at=0.0, finished_at=10.0, frames_done=20),
        J(started_at=5.0, finished_at=None, frames_done=10),
        J(started_at=None, finished_at=3.0, frames_done=9),  # found complete on disk: nothing computed
        J(started_at=None, finished_at=None, frames_done=0),
    ]
    work = policy.job_work(jobs, now=15.0)
    assert work == [(0.0, 10.0, 20.0), (5.0, 15.0, 10.0)]
    assert policy.pace(work, now=15.0, window=60, remaining=10, jobs=4, busy=True).throughput == pytest.approx(2.0)
