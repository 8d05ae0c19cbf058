"""The Dask side of the batch queue: cluster connection, the feeding loop, worker tasks, plugins.

Users hold :class:`goesvfi_lab.queue.BatchQueue`; these modules are what it runs on:

- :mod:`.cluster`   — LocalCluster sized to the machine (one worker per GPU), or the user's cluster
- :mod:`.submitter` — the control loop: the bounded window of tasks, fed from the store by policy
- :mod:`.settings`  — the ``goesvfi.*`` values the engine reads, once per start (what applies live)
- :mod:`.claims`, :mod:`.admission`, :mod:`.transitions` — taking a job, whether it may run, its state changes
- :mod:`.sizing`, :mod:`.specs` — window depth and pairs per task; what each task is given
- :mod:`.results`, :mod:`.stopping`, :mod:`.outbox` — what Dask reports back; stop flags and swept
  outputs; events fired outside the lock
- :mod:`.tasks`     — the per-pair and assemble tasks that run on workers (paths in, files out)
- :mod:`.layout`    — the output folder layout and the job settings the engine understands
- :mod:`.plugins`   — models loaded once per worker; live metrics counted on the scheduler
"""
