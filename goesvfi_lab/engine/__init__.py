"""The Dask side of the batch queue: cluster connection, the feeding loop, worker tasks, plugins.

Users hold :class:`goesvfi_lab.queue.BatchQueue`; these modules are what it runs on:

- :mod:`.cluster`   — LocalCluster sized to the machine (one worker per GPU), or the user's cluster
- :mod:`.submitter` — the bounded window of tasks, fed from the store by policy; control and faults
- :mod:`.tasks`     — the per-pair and assemble tasks that run on workers (paths in, files out)
- :mod:`.layout`    — the output folder layout and the job settings the engine understands
- :mod:`.plugins`   — models loaded once per worker; live metrics counted on the scheduler
"""
