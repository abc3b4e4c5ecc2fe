"""A chaos harness: one study run calm, then under a seeded storm of real faults, compared.

The study's training function is deterministic (`training`): its metric is a pure function of
what the trial removes and its seed, and so is its duration, so a fault lands in the middle of
a trial and the result table cannot depend on which worker ran what, or how often. The storm
(`harness`) injects real faults:

* Python workers (``pyspark.worker``) killed with SIGKILL while they run a trial;
* executor JVMs killed (on a standalone cluster on 127.0.0.1, `tests.cluster`);
* the driver process killed with SIGKILL, at random moments and in the middle of a journal
  write, then the study resumed, several times in one storm;
* a TCP proxy between the tasks and the driver (`proxy`) that drops connections, truncates
  frames, delays them, and holds heartbeats past the heartbeat timeout;
* the journal's disk full or read-only for a moment (`disk`).

It then checks the invariant: no lost and no duplicated result, no trial that had finished run
again after a resume, and a result table identical to the calm run's; then it extends the study
(two more components, one more repeat) and checks that exactly the new trials run. ``make
chaos`` (``bench/chaos.py``) runs the full harness; ``tests/e2e/test_chaos.py`` a quick storm.
The seams the proxy and the flaky disk use are private (``autoablation._driver.seams``).
"""
