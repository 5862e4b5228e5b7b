"""Retry policy of paid generation calls: only errors classified retryable, with exponential backoff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from studio.errors import GenerationError

T = TypeVar("T")

RetryListener = Callable[[int, GenerationError, float], None]
"""Called before each wait with the failed attempt (1-based), its error and the seconds about to be waited."""


def _retryable(error: BaseException) -> bool:
    return isinstance(error, GenerationError) and error.retryable


def backoff_wait(backoff: float) -> Callable[[RetryCallState], float]:
    """backoff, 2 x backoff, 4 x backoff, ... but never shorter than the provider's Retry-After."""

    def wait(state: RetryCallState) -> float:
        seconds: float = backoff * 2.0 ** (state.attempt_number - 1)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, GenerationError) and error.retry_after is not None:
            seconds = max(seconds, error.retry_after)
        return seconds

    return wait


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: float = 2.0,
    on_retry: RetryListener | None = None,
) -> T:
    """Run `call` up to `attempts` times in all; re-raise the last error when none succeeds.

    The first attempt runs on its own (most calls need no retry; the retry machinery costs a little on
    every call); a retryable failure then enters the policy as its attempt 1.
    """
    try:
        return await call()
    except GenerationError as error:
        if not error.retryable or attempts <= 1:
            raise
        first: GenerationError | None = error

    async def replayed() -> T:
        nonlocal first
        if first is not None:
            error, first = first, None
            raise error
        return await call()

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(error, GenerationError):
            on_retry(state.attempt_number, error, state.upcoming_sleep)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=backoff_wait(backoff),
        retry=retry_if_exception(_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(replayed)
