"""Appending whole lines to the journal, through a full or read-only disk.

A disk can refuse a write for a moment (full, remounted read-only, a network filesystem that
hiccups), or accept only part of it. `LineAppender` keeps every line it has not written in
memory and writes it, in order, ahead of the next ones at the next `LineAppender.flush`: an
event is never dropped. A write cut short is undone back to its last whole line (and when even
that is refused, the next write starts on a new line), so every complete line of the file is a
whole event, written once, and a reader skips at most a torn fragment.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

logger = logging.getLogger("autoablation")


class LineAppender:
    """Appends lines to a file with single ``write`` calls; what the disk refused waits.

    Not thread-safe: the journal writer holds its lock around every call.

    Args:
        path: The file, created if missing and appended to.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        self._pending: list[bytes] = []
        self._torn = False  # the file ends inside a line that could not be undone
        self.refused: OSError | None = None
        """Why the last flush could not write everything, or None after one that did."""

    @property
    def waiting(self) -> int:
        """Lines not yet written."""
        return len(self._pending)

    def add(self, line: bytes) -> None:
        """Queue one line (with its newline) for the next `flush`."""
        self._pending.append(line)

    def flush(self) -> bool:
        """Write every queued line, oldest first; False when the disk refused some.

        What was not written stays queued for the next flush. Never raises `OSError`.
        """
        if not self._pending:
            return True
        data = b"".join(self._pending)
        if self._torn:
            data = b"\n" + data
        written = 0
        try:
            while written < len(data):
                count = self._write(memoryview(data)[written:])
                if count <= 0:
                    raise OSError(errno.EIO, "the write wrote nothing")
                written += count
        except OSError as exc:
            self.refused = exc
            self._keep(data, written)
            return False
        self._size += written
        self._pending.clear()
        self._torn = False
        self.refused = None
        return True

    def _keep(self, data: bytes, written: int) -> None:
        """After a write cut short at ``written`` bytes: keep whole lines, queue the rest."""
        whole = data.rfind(b"\n", 0, written) + 1  # the written lines that are whole
        if whole:
            self._torn = False
        queued = data[whole:]
        if written > whole:  # part of a line reached the file: undo it
            try:
                self._truncate(self._size + whole)
            except OSError:
                self._torn = True  # the next write starts on a new line instead
                self._size += written
            else:
                self._size += whole
        else:
            self._size += whole
        if self._torn and queued.startswith(b"\n"):
            queued = queued[1:]
        self._pending = [queued] if queued else []

    def _write(self, data: memoryview) -> int:
        """One ``write`` call; the bytes written. Fault-injection tests override it."""
        return os.write(self._fd, data)

    def _truncate(self, size: int) -> None:
        """Cut the file back to ``size`` bytes. Fault-injection tests override it."""
        os.ftruncate(self._fd, size)

    def close(self) -> None:
        """Close the file (unwritten lines are dropped: flush first)."""
        os.close(self._fd)
