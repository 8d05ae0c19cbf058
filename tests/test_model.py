"""The job model's vocabulary: status groups every module shares, and the counts derived from them."""

from __future__ import annotations

from goesvfi_lab.model import CLAIMED, FINISHED, UNFINISHED, JobStatus, Stats


def test_status_groups_partition_the_statuses():
    assert UNFINISHED == {JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING}
    assert CLAIMED == {JobStatus.QUEUED, JobStatus.RUNNING} and CLAIMED < UNFINISHED
    assert FINISHED == {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
    assert UNFINISHED | FINISHED == set(JobStatus) and not UNFINISHED & FINISHED
    assert [s.is_terminal for s in JobStatus] == [s in FINISHED for s in JobStatus]


def test_status_group_values_are_the_stored_words_in_a_fixed_order():
    assert UNFINISHED.values == ("pending", "queued", "running")  # SQL parameters, dict keys of store counts
    assert CLAIMED.values == ("queued", "running")
    assert FINISHED.values == ("completed", "failed", "cancelled")


def test_stats_unfinished_counts_waiting_and_claimed_jobs():
    s = Stats(total=9, pending=2, queued=1, running=3, completed=1, failed=1, cancelled=1)
    assert s.unfinished == 6
    assert Stats().unfinished == 0
