"""The errors the service layer raises; pages turn them into messages, the CLI into exit codes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

DEBUG_VALUES = ("1", "true", "yes", "on")
LISTED_PROBLEMS = 50
"""At most this many problems are spelled out in an InvalidInput's message; all stay in `.problems`."""


def debugging() -> bool:
    """STUDIO_DEBUG=1: failures show their traceback beside the message (the CLI's `--debug` does too)."""
    return os.environ.get("STUDIO_DEBUG", "").strip().lower() in DEBUG_VALUES


class StudioError(Exception):
    """Base of every error the studio raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (`scenes[2].description`) and what, in a creator's words."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class InvalidInput(StudioError):
    """Input that is refused before anything is written; names the field and the problem.

    `problems` lists every problem found (a plan reports all of them at once); `field` and `problem`
    summarise them, so callers that show one line keep working.
    """

    def __init__(self, field: str, problem: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.problems = list(problems) or [Problem(field, problem)]

    @classmethod
    def of(cls, problems: Sequence[Problem], subject: str = "plan") -> InvalidInput:
        """One error for many problems: the only one as it is, or a count and a line per problem."""
        if len(problems) == 1:
            return cls(problems[0].field, problems[0].problem)
        lines = [f"  {problem}" for problem in problems[:LISTED_PROBLEMS]]
        if len(problems) > LISTED_PROBLEMS:
            lines.append(f"  ... and {len(problems) - LISTED_PROBLEMS} more")
        return cls(subject, f"has {len(problems)} problems:\n" + "\n".join(lines), problems)


class NotFound(StudioError):
    """A job, song, reference or object that does not exist."""


class BudgetExceeded(StudioError):
    """A paid call that would take the job over its budget; never retried."""


class Unavailable(StudioError):
    """Configuration, storage or the database cannot be used: `what` failed and where, and `fix`, what to
    do about it. The CLI prints it as one message (exit 1, no traceback); pages show it in place of the page.
    """

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what = what
        self.fix = fix


class StorageUnavailable(Unavailable):
    """Storage cannot take or give objects now (a full disk, an unreachable or refusing server): work that
    needs it stops and goes back to the queue, nothing it paid for is lost."""


class ConfigurationError(StudioError):
    """A backend was asked for but is not configured; the message says what to set."""


class GenerationError(StudioError):
    """A failed call to an image or text model, classified by the backend that made it.

    `retryable` comes from the client's exception type and HTTP status, never from message text;
    `retry_after` is the provider's Retry-After in seconds; `charged` is what the failed call cost, for
    `units` of billing (seconds of predict time) of prediction `prediction_id`.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        charged: Decimal = Decimal("0"),
        reason: str = "error",
        prediction_id: str | None = None,
        units: Decimal = Decimal("0"),
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.charged = charged
        self.reason = reason
        self.prediction_id = prediction_id
        self.units = units
