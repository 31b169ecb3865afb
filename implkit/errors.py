"""The error hierarchy. Each class carries the exit code DESIGN.md assigns to it.

Exit codes: 0 success, 1 runtime failure, 2 changes/findings (not an error),
3 bad input. The CLI maps an ImplkitError to its exit code and prints
`str(error)` without a traceback (unless --debug).
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CHANGES = 2
EXIT_BAD_INPUT = 3


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem is: 1-based line and column, and the key path."""

    file: str
    line: int | None = None
    column: int | None = None
    key: str = ""

    def __str__(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, at a location."""

    location: Location
    message: str

    def __str__(self) -> str:
        key = f" {self.location.key}:" if self.location.key else ""
        return f"{self.location}:{key} {self.message}"


class ImplkitError(Exception):
    """Base of every expected failure; never shown with a traceback unless --debug."""

    exit_code = EXIT_FAILURE


class RuntimeFailure(ImplkitError):
    """The work could not be done: API unreachable after retries, remote refused, lock held."""

    exit_code = EXIT_FAILURE


class InputError(ImplkitError):
    """Bad input: a file, an answer, an option or a name that does not hold up. Nothing is written."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, problems: list[Problem] | tuple[Problem, ...] = ()):
        self.problems = tuple(problems)
        super().__init__(message)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return "\n".join([head, *(str(p) for p in self.problems)])


class ApiError(RuntimeFailure):
    """A CRM answered with an error that retrying will not fix."""

    def __init__(self, message: str, status: int | None = None, body: object = None):
        self.status = status
        self.body = body
        super().__init__(message)


class ConflictError(RuntimeFailure):
    """The tenant or state is not what the operation expects (stale plan, another account, a held lock)."""
