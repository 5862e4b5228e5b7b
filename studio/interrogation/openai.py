"""Interrogation by an OpenAI vision model, its answer held to a pydantic schema and its tokens billed.

The original accepted whatever JSON came back; here the client's structured output sends the schema and an
answer that fails it (wrong JSON, a missing or empty field) is an error, never a half-filled character.
An answer shorter or longer than asked is still a good answer, paid for: it is kept, with a note saying so.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import openai
import pydantic
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from studio.errors import ConfigurationError, GenerationError
from studio.generation.pace import Pace, paced
from studio.interrogation.base import Interrogation
from studio.interrogation.data_url import data_url
from studio.logs import log_step
from studio.money import NANO
from studio.settings import Settings

MAX_RETRIES = 1
"""The client's own retries (it honours Retry-After); the job layer decides about more."""
TIMEOUT_SECONDS = 60.0
MAX_COMPLETION_TOKENS = 900

PRICES_SOURCE = "https://platform.openai.com/docs/pricing"
PRICES_TAKEN_ON = "2025-08-01"


@dataclass(frozen=True)
class TokenPrice:
    """USD per million tokens, from PRICES_SOURCE on PRICES_TAKEN_ON."""

    input: Decimal
    output: Decimal


TOKEN_PRICES: dict[str, TokenPrice] = {
    "gpt-4o-mini": TokenPrice(Decimal("0.15"), Decimal("0.60")),
    "gpt-4o": TokenPrice(Decimal("2.50"), Decimal("10.00")),
    "gpt-4.1-nano": TokenPrice(Decimal("0.10"), Decimal("0.40")),
    "gpt-4.1-mini": TokenPrice(Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1": TokenPrice(Decimal("2.00"), Decimal("8.00")),
}
UNLISTED_MODEL_PRICE = TOKEN_PRICES["gpt-4o"]
"""Models missing from the table are billed at the dearest listed model, so the ledger never undercounts."""

INSTRUCTIONS = (
    "You describe the character in a reference image so an image model can draw the same character again. "
    "Answer with: character_description, 2-3 sentences on who the character is and how they look "
    "(build, hair, face, clothing, colours, accessories); detailed_prompt, a 100-150 word "
    "Stable Diffusion XL prompt of comma-separated phrases that reproduces the character, pose, framing, "
    "lighting and art style; "
    "style_notes, one short line on medium, palette, lighting and rendering."
)
ASKED_SENTENCES = (2, 3)
ASKED_WORDS = (100, 150)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
log = logging.getLogger("studio.interrogation")


class InterrogationAnswer(BaseModel):
    """A description of the character in a reference image, for redrawing the same character."""

    model_config = ConfigDict(extra="forbid")

    character_description: str = Field(description="2-3 sentences describing the character's appearance.")
    detailed_prompt: str = Field(description="A 100-150 word SDXL prompt that reproduces the character.")
    style_notes: str = Field(description="One line: medium, palette, lighting, rendering.")

    @field_validator("character_description", "detailed_prompt", "style_notes")
    @classmethod
    def _present(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty")
        return value.strip()


def length_notes(answer: InterrogationAnswer) -> list[str]:
    """Where an answer is shorter or longer than asked: notes for the creator, not reasons to refuse it."""
    notes = []
    sentences = len([s for s in _SENTENCE_BREAK.split(answer.character_description) if s])
    low, high = ASKED_SENTENCES
    if not low <= sentences <= high:
        plural = "" if sentences == 1 else "s"
        notes.append(f"the description has {sentences} sentence{plural}; {low}-{high} were asked")
    words = len(answer.detailed_prompt.split())
    low, high = ASKED_WORDS
    if not low <= words <= high:
        notes.append(f"the detailed prompt has {words} words; {low}-{high} were asked")
    return notes


def token_cost(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """Prompt tokens x input price + completion tokens x output price, in whole nano-dollars."""
    price = TOKEN_PRICES.get(model, UNLISTED_MODEL_PRICE)
    amount = (prompt_tokens * price.input + completion_tokens * price.output) / Decimal(1_000_000)
    return amount.quantize(NANO, rounding=ROUND_HALF_UP)


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    return None


def classify(exc: openai.OpenAIError) -> GenerationError:
    """The client's exception types and status codes as a GenerationError, retryable or not."""
    if isinstance(exc, openai.RateLimitError) and exc.code != "insufficient_quota":
        return GenerationError(
            "OpenAI rate limit (429)",
            retryable=True,
            retry_after=_retry_after(exc.response),
            reason="rate_limited",
        )
    if isinstance(exc, openai.APITimeoutError):
        return GenerationError("OpenAI request timed out", retryable=True, reason="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return GenerationError("OpenAI could not be reached", retryable=True, reason="connection")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409) or status >= 500
        reason = "auth" if status in (401, 403) else "server_error" if status >= 500 else "rejected"
        return GenerationError(
            f"OpenAI answered HTTP {status}",
            retryable=retryable,
            retry_after=_retry_after(exc.response) if retryable else None,
            reason=reason,
        )
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return GenerationError("OpenAI refused the image (content filter)", retryable=False, reason="refused")
    if isinstance(exc, openai.LengthFinishReasonError):
        return GenerationError("OpenAI's answer was cut off", retryable=False, reason="invalid_answer")
    return GenerationError(f"OpenAI error: {type(exc).__name__}", retryable=False)


class OpenAIInterrogator:
    """A vision model through the official async client; pass `client` to point it anywhere (tests do)."""

    name = "openai"

    def __init__(
        self,
        client: AsyncOpenAI | None = None,
        *,
        model: str = "gpt-4o-mini",
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = MAX_RETRIES,
        timeout: float = TIMEOUT_SECONDS,
        pace: Pace | None = None,
    ) -> None:
        if client is None and not api_key:
            raise ConfigurationError("the openai interrogator needs OPENAI_API_KEY; set it or use 'local'")
        self.model = model
        self._client = client
        self._api_key = api_key
        self._base_url = base_url
        self._max_retries = max_retries
        self._timeout = timeout
        self.pace = pace

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIInterrogator:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(model=settings.openai_model, api_key=key, base_url=settings.openai_base_url)

    def _new_client(self) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            max_retries=self._max_retries,
            timeout=self._timeout,
        )

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        """One answer; a 429 is waited out (studio.generation.pace), for at most the request timeout."""
        deadline = time.monotonic() + self._timeout
        if self._client is not None:
            given = self._client
            return await paced(lambda: self._ask(given, image), self.pace, deadline=deadline)
        async with self._new_client() as client:
            return await paced(lambda: self._ask(client, image), self.pace, deadline=deadline)

    async def _ask(self, client: AsyncOpenAI, image: bytes) -> Interrogation:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": INSTRUCTIONS},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the character in this reference image."},
                    {"type": "image_url", "image_url": {"url": data_url(image)}},
                ],
            },
        ]
        try:
            raw = await client.chat.completions.with_raw_response.parse(
                model=self.model,
                messages=messages,
                response_format=InterrogationAnswer,
                max_completion_tokens=MAX_COMPLETION_TOKENS,
            )
        except openai.OpenAIError as exc:
            raise classify(exc) from exc
        try:
            completion = ChatCompletion.model_validate(raw.http_response.json())
        except (ValueError, pydantic.ValidationError) as exc:
            raise GenerationError(
                "OpenAI answered something that is not a chat completion", retryable=True
            ) from exc
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        cost = token_cost(self.model, prompt_tokens, completion_tokens)
        try:
            parsed = raw.parse()
        except openai.OpenAIError as exc:
            error = classify(exc)
            error.charged = cost
            raise error from exc
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()
            )
            raise GenerationError(
                f"OpenAI's answer does not match the interrogation schema ({problems})",
                retryable=False,
                charged=cost,
                reason="invalid_answer",
            ) from exc
        message = parsed.choices[0].message if parsed.choices else None
        answer = message.parsed if message else None
        if answer is None:
            refused = bool(message and message.refusal)
            raise GenerationError(
                "OpenAI refused to describe the image" if refused else "OpenAI returned no answer",
                retryable=False,
                charged=cost,
                reason="refused" if refused else "invalid_answer",
            )
        notes = length_notes(answer)
        if notes:
            log_step(
                log,
                "interrogation answer shorter or longer than asked; kept",
                level=logging.WARNING,
                model=completion.model or self.model,
                outcome="length_note",
                notes="; ".join(notes),
            )
        return Interrogation(
            prompt=answer.detailed_prompt,
            character_description=answer.character_description,
            style_notes=answer.style_notes,
            source=self.name,
            model=completion.model or self.model,
            cost=cost,
            units=Decimal(usage.total_tokens if usage else prompt_tokens + completion_tokens),
            notes=notes,
        )
