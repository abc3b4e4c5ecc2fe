"""Private seams where fault-injection tests get between the driver and the outside world.

Never set in production, and not part of the public API: the chaos harness (``tests/chaos``,
``make chaos``) sets them in the driver process it starts, before it calls ``launch``
(``docs/reliability.md`` lists them).

* `task_route`: the address the Spark tasks are told to connect to, given the RPC server's.
  The harness puts a TCP proxy there that drops, delays and truncates frames.
* `journal_appender`: makes the object the journal appends its lines to. The harness gives one
  whose writes fail for a moment as a full or read-only disk's do, or that kills the driver in
  the middle of a line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autoablation._driver.appender import LineAppender


def _direct(address: tuple[str, int]) -> tuple[str, int]:
    return address


task_route: Callable[[tuple[str, int]], tuple[str, int]] = _direct
"""Maps the RPC server's ``(host, port)`` to the address tasks connect to."""

journal_appender: Callable[[Path], LineAppender] = LineAppender
"""Makes the appender of a journal file."""
