"""What the controller thread can be told: the typed items of its inbox.

Any thread puts them in (`Controller.submit`, `connection_closed`, `job_failed`, `abort`,
`stop`); the controller thread takes them out one at a time and routes them with ``match``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoablation._driver.workers import ConnKey, ReplyFn


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request from a worker, to be answered once through ``reply``."""

    message: Mapping[str, Any]
    reply: ReplyFn
    conn: ConnKey | None


@dataclass(frozen=True, slots=True)
class Closed:
    """A connection closed; a worker holding a trial on it is lost."""

    conn: ConnKey


@dataclass(frozen=True, slots=True)
class JobFailed:
    """Spark failed job ``generation`` because of task ``culprit`` (None: unknown)."""

    generation: int
    culprit: int | None


@dataclass(frozen=True, slots=True)
class Abort:
    """Stop handing out trials; cancel what is not final."""

    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """End the controller thread."""


Item = Incoming | Closed | JobFailed | Abort | Stop
