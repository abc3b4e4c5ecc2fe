"""Everything that runs inside a Spark task's Python worker.

The task body, the worker loop (ask, run, report), a trial's run, its reporter, output capture
and time limit, and the typed client of the controller. Never imports pandas, the driver, the
study declaration or the results (import-linter keeps it so): a fresh worker imports little.
"""
