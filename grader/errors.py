"""The one user-error channel: the CLI prints a GraderError as a message; anything else is a bug with a traceback."""

from __future__ import annotations

from typing import Literal


class GraderError(Exception):
    """A problem the user can fix; the message says what, where and what to do."""


class ConfigError(GraderError):
    """Bad flags or config: nothing ran (exit code 2)."""


class SubmissionError(GraderError):
    """A group's submission cannot be used; the batch goes on and the group is marked."""

    def __init__(self, message: str, *, status: Literal["invalid", "over-limit"] = "invalid") -> None:
        super().__init__(message)
        self.status = status


class StageError(GraderError):
    """A stage failed for one group (training crashed, out of memory, ...)."""
