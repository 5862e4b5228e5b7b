"""The errors the service layer raises; pages turn them into messages, the CLI into exit codes."""

from __future__ import annotations

from decimal import Decimal


class StudioError(Exception):
    """Base of every error the studio raises on purpose."""


class InvalidInput(StudioError):
    """Input that is refused before anything is written; names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class NotFound(StudioError):
    """A job, song, reference or object that does not exist."""


class BudgetExceeded(StudioError):
    """A paid call that would take the job over its budget; never retried."""


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
