"""Event callbacks: registration, removal, payloads, and failing callbacks logged and kept."""

from __future__ import annotations

import logging
import threading

import pytest

from goesvfi_lab.events import EVENTS, EventDispatcher


def test_callbacks_receive_payload_in_registration_order():
    d = EventDispatcher()
    seen = []
    d.on("job_completed", lambda m: seen.append(("first", m)))
    d.on("job_completed", lambda m: seen.append(("second", m["job_id"])))
    assert d.fire("job_completed", job_id="abc", frames_done=9) == 0
    assert seen == [("first", {"event": "job_completed", "job_id": "abc", "frames_done": 9}), ("second", "abc")]


def test_remove_and_no_duplicates():
    d = EventDispatcher()
    calls = []

    def cb(m):
        calls.append(m["event"])

    d.on("job_failed", cb)
    d.on("job_failed", cb)  # registering twice calls once
    d.fire("job_failed", job_id="x")
    d.on("job_failed", cb, remove=True)
    d.fire("job_failed", job_id="x")
    assert calls == ["job_failed"]


def test_star_registers_for_every_event():
    d = EventDispatcher()
    calls = []
    d.on("*", lambda m: calls.append(m["event"]))
    for e in EVENTS:
        d.fire(e)
    assert calls == list(EVENTS)


def test_unknown_event_is_rejected():
    d = EventDispatcher()
    with pytest.raises(ValueError, match="unknown event 'job_exploded'"):
        d.on("job_exploded", print)
    with pytest.raises(ValueError):
        d.fire("nope")


def test_failing_callback_is_logged_kept_and_does_not_stop_others(caplog):
    d = EventDispatcher()
    after = []

    def broken(m):
        raise RuntimeError("widget went away")

    d.on("job_progress", broken)
    d.on("job_progress", lambda m: after.append(m["frames_done"]))
    with caplog.at_level(logging.ERROR, logger="goesvfi_lab.events"):
        assert d.fire("job_progress", frames_done=3) == 1
        assert d.fire("job_progress", frames_done=4) == 1
    assert after == [3, 4]
    assert len(d.errors) == 2
    err = d.errors[0]
    assert err.event == "job_progress" and "broken" in err.callback
    assert isinstance(err.error, RuntimeError) and "widget went away" in err.traceback
    assert "widget went away" in caplog.text


def test_registration_from_threads_while_firing():
    d = EventDispatcher()
    count = []
    stop = threading.Event()

    def fire_loop():
        while not stop.is_set():
            d.fire("job_started")

    t = threading.Thread(target=fire_loop)
    t.start()
    callbacks = [lambda m, i=i: count.append(i) for i in range(50)]
    for cb in callbacks:
        d.on("job_started", cb)
    stop.set()
    t.join()
    d.fire("job_started")
    assert count[-50:] == list(range(50))
