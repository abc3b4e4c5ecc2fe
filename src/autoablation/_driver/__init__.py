"""Everything that runs on the Spark driver during a launch.

Options and pre-flight checks, the launcher and its Spark jobs, the controller (a thread around
the trial ledger and the worker registry), the scheduler, listeners, the journal writer,
progress and tracking. Nothing here runs inside a Spark task.
"""
