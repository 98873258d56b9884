"""What the recorder tells the server when it has to stop writing."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Literal

StopReason = Literal["ended", "disk_full", "io_error", "error", "interrupted"]
FailureScope = Literal["track", "event_log", "seal"]


def stop_reason_of(exc: BaseException) -> StopReason:
    if isinstance(exc, OSError):
        return "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "io_error"
    return "error"


@dataclass(frozen=True, slots=True)
class RecordingFailure:
    """A recording part stopped; what it wrote stays playable and the session goes on.

    The server alerts the mediator and the clerk with ``message``.
    """

    scope: FailureScope
    reason: StopReason
    # Session-folder-relative file name, when the failure concerns one file.
    file: str | None
    errno: int | None
    message: str

    @classmethod
    def from_exception(
        cls, scope: FailureScope, file: str | None, exc: BaseException
    ) -> RecordingFailure:
        code = exc.errno if isinstance(exc, OSError) else None
        reason = stop_reason_of(exc)
        text = {
            "disk_full": "磁盘已满，录制已停止 / disk full, recording stopped",
            "io_error": "写入错误，录制已停止 / write error, recording stopped",
        }.get(reason, "录制出错，已停止 / recording error, stopped")
        where = f" ({file})" if file else ""
        return cls(scope, reason, file, code, f"{text}{where}: {exc}")
