"""The error text a failed trial sends to the driver: plain text, its end kept.

Keras decorates its messages with terminal escape codes (bold, colours) that show as garbage in
a results table, a CSV file or a notebook; they are removed here, where the text is made. A
traceback longer than `MAX_ERROR_CHARS` keeps its end, where the exception is.
"""

from __future__ import annotations

import re
import traceback

MAX_ERROR_CHARS = 64_000
"""Characters of a traceback sent to the driver; its end, where the exception is, is kept."""

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, bold, cursor movement (ECMA-48)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, hyperlinks
    r"|\x1b[@-Z\\-_]"  # the other two-character escapes
)


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def shortened(text: str) -> str:
    """``text`` without escape codes, cut to its last `MAX_ERROR_CHARS` characters."""
    text = strip_ansi(text)
    if len(text) > MAX_ERROR_CHARS:
        text = "... (traceback shortened)\n" + text[-MAX_ERROR_CHARS:]
    return text


def traceback_text() -> str:
    """The exception being handled, as the driver receives it."""
    return shortened(traceback.format_exc())


def exit_text(exc: SystemExit) -> str:
    """The error of a trial whose training function called ``sys.exit``: traceback, then why.

    The last line, which the driver shows as the trial's reason, names ``SystemExit`` and its
    code.
    """
    return shortened(
        traceback.format_exc().rstrip()
        + f"\nSystemExit({exc.code!r}): the training function called sys.exit({exc.code!r}) "
        "(or exit, or raised SystemExit); it ended this trial, which counts as failed"
    )
