"""The CLI's exit codes, and the exception that carries one out of a command."""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_AMBIGUOUS = 3
EXIT_STORE = 4
EXIT_UNSUPPORTED = 5
EXIT_INTERRUPTED = 130


class Failure(Exception):
    """A command could not do its job; ``code`` is the exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
