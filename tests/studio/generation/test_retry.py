"""The retry policy: only retryable GenerationErrors, exponential waits never shorter than Retry-After."""

from __future__ import annotations

import time

import pytest

from studio.errors import BudgetExceeded, GenerationError
from studio.generation.retry import with_retries


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "image"


def retryable(retry_after: float | None = None) -> GenerationError:
    return GenerationError("busy", retryable=True, retry_after=retry_after)


async def test_retries_retryable_errors_with_doubling_waits() -> None:
    call = Flaky(retryable(), retryable(), retryable())
    waits: list[tuple[int, float]] = []

    result = await with_retries(
        call, attempts=4, backoff=0.01, on_retry=lambda n, error, wait: waits.append((n, wait))
    )

    assert result == "image"
    assert call.calls == 4
    assert waits == [(1, pytest.approx(0.01)), (2, pytest.approx(0.02)), (3, pytest.approx(0.04))]


async def test_waits_at_least_the_retry_after() -> None:
    call = Flaky(retryable(retry_after=0.2))
    waits: list[float] = []
    started = time.monotonic()

    await with_retries(call, attempts=2, backoff=0.01, on_retry=lambda n, error, wait: waits.append(wait))

    assert waits == [pytest.approx(0.2)]
    assert time.monotonic() - started >= 0.2


async def test_reraises_the_last_error_when_attempts_run_out() -> None:
    last = retryable()
    call = Flaky(retryable(), last)
    with pytest.raises(GenerationError) as caught:
        await with_retries(call, attempts=2, backoff=0.001)
    assert caught.value is last
    assert call.calls == 2


@pytest.mark.parametrize(
    "error",
    [GenerationError("bad input", retryable=False), BudgetExceeded("over budget"), ValueError("bug")],
    ids=["final generation error", "budget", "other exception"],
)
async def test_never_retries_anything_else(error: Exception) -> None:
    call = Flaky(error)
    with pytest.raises(type(error)):
        await with_retries(call, attempts=3, backoff=0.001)
    assert call.calls == 1
