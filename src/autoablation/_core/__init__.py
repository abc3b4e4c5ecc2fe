"""Values every role shares: errors, trials and their results, JSON helpers.

Standard library and NumPy only (import-linter keeps it so); the driver, the executors and
the results all import from here, never the other way round.
"""
