"""The executor side of the driver channel: typed calls to the controller over any `Channel`.

`ControllerClient` speaks the controller's messages; the channel underneath is either an
`RpcChannel` (a TCP connection to the driver, used by Spark tasks) or an in-process
`LocalChannel` (threads, tests). Both carry the same JSON messages, so the worker loop cannot
tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from autoablation._core.errors import ProtocolError
from autoablation._core.trial import Trial
from autoablation._wire.channel import Channel


def _trial_or_none(reply: Mapping[str, Any]) -> Trial | None:
    kind = reply.get("type")
    if kind == "trial":
        return Trial.from_dict(reply["trial"])
    if kind == "done":
        return None
    raise ProtocolError(f"expected a 'trial' or 'done' reply; got {kind!r}")


class ControllerClient:
    """Typed calls to the controller, over a control channel and a heartbeat channel.

    The heartbeat channel is separate so a heartbeat thread never waits behind a control call.
    """

    def __init__(self, channel: Channel, heartbeat_channel: Channel | None = None) -> None:
        self._channel = channel
        self._heartbeat_channel = heartbeat_channel or channel

    def register(self, worker_id: str, info: Mapping[str, Any]) -> dict[str, Any]:
        """Announce a worker; the reply carries the heartbeat interval."""
        return self._channel.request({"type": "register", "worker": worker_id, "info": dict(info)})

    def next_trial(self, worker_id: str) -> Trial | None:
        """Ask for a trial; blocks until one is free, None once the study is done."""
        return _trial_or_none(self._channel.request({"type": "next", "worker": worker_id}))

    def heartbeat(
        self,
        worker_id: str,
        trial_id: str,
        metrics: Sequence[tuple[int, float | None]] = (),
        logs: Sequence[str] = (),
    ) -> None:
        """Say the worker is alive, with the metrics and log lines gathered since last time."""
        self._heartbeat_channel.request(
            {
                "type": "heartbeat",
                "worker": worker_id,
                "trial": trial_id,
                "metrics": [list(m) for m in metrics],
                "logs": list(logs),
            }
        )

    def report(
        self, worker_id: str, outcome: Mapping[str, Any], *, want_next: bool = True
    ) -> Trial | None:
        """Report a finished trial; with ``want_next`` the reply is the next trial (or None)."""
        reply = self._channel.request(
            {"type": "result", "worker": worker_id, "next": want_next, **outcome}
        )
        return _trial_or_none(reply) if want_next else None

    def close(self) -> None:
        """Close both channels."""
        self._channel.close()
        if self._heartbeat_channel is not self._channel:
            self._heartbeat_channel.close()
