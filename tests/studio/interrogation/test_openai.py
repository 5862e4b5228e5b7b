"""Contract: the real openai client against the local OpenAI-compatible server."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from openai import AsyncOpenAI

from studio.errors import ConfigurationError, GenerationError
from studio.interrogation.openai import OpenAIInterrogator, token_cost
from studio.settings import Settings
from tests.servers.openai import SHORT_ANSWER, VALID_ANSWER, OpenAIServer
from tests.studio.interrogation.images import figure


@pytest.fixture
async def client(openai_server: OpenAIServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(api_key=openai_server.api_key, base_url=openai_server.url, max_retries=0) as built:
        yield built


async def test_answer_is_parsed_and_tokens_become_cost(
    openai_server: OpenAIServer, client: AsyncOpenAI
) -> None:
    openai_server.answer.prompt_tokens, openai_server.answer.completion_tokens = 1000, 200
    result = await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert result.source == "openai" and result.model == "gpt-4o-mini"
    assert result.character_description.startswith("A young courier")
    assert len(result.prompt.split()) > 100
    assert "anime" in result.style_notes
    assert result.cost == Decimal("1000") * Decimal("0.15") / 10**6 + Decimal("200") * Decimal("0.60") / 10**6
    assert result.units == Decimal("1200")


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
async def test_image_goes_as_a_data_url_with_its_true_mime_type(
    openai_server: OpenAIServer, client: AsyncOpenAI, fmt: str, mime: str
) -> None:
    image = figure(fmt=fmt)
    await OpenAIInterrogator(client).interrogate(image, "image/png")  # the claimed type is ignored
    [url] = openai_server.completions()[-1].image_urls()
    prefix = f"data:{mime};base64,"
    assert url.startswith(prefix)
    assert base64.b64decode(url.removeprefix(prefix)) == image


async def test_schema_is_sent_strict(openai_server: OpenAIServer, client: AsyncOpenAI) -> None:
    await OpenAIInterrogator(client, model="gpt-4.1-mini").interrogate(figure(), "image/png")
    body = openai_server.completions()[-1].body
    assert body["model"] == "gpt-4.1-mini"
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    schema = response_format["json_schema"]
    assert schema["strict"] is True
    assert set(schema["schema"]["required"]) == {"character_description", "detailed_prompt", "style_notes"}
    assert schema["schema"]["additionalProperties"] is False


async def test_a_short_answer_is_kept_with_a_note_about_its_length(
    openai_server: OpenAIServer, client: AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.answer.content = dict(SHORT_ANSWER)
    with caplog.at_level(logging.WARNING, logger="studio.interrogation"):
        result = await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert (result.source, result.prompt) == ("openai", SHORT_ANSWER["detailed_prompt"])
    assert result.cost == token_cost("gpt-4o-mini", 1200, 300) > 0
    assert result.notes == [
        "the description has 1 sentence; 2-3 were asked",
        "the detailed prompt has 18 words; 100-150 were asked",
    ]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "shorter or longer than asked" in warning.getMessage()
    assert "18 words" in str(getattr(warning, "notes", ""))


async def test_an_answer_of_the_asked_length_has_no_notes(client: AsyncOpenAI) -> None:
    result = await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert result.notes == []


async def test_a_long_answer_is_kept_with_a_note(openai_server: OpenAIServer, client: AsyncOpenAI) -> None:
    openai_server.answer.content = {**VALID_ANSWER, "detailed_prompt": "word, " * 400}
    result = await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert result.notes == ["the detailed prompt has 400 words; 100-150 were asked"]


@pytest.mark.parametrize(
    "content",
    [
        {"character_description": "A courier in red. She smiles.", "detailed_prompt": "too short"},
        {"character_description": "", "detailed_prompt": "word " * 120, "style_notes": "anime"},
        {"character_description": "A courier.", "detailed_prompt": "  ", "style_notes": "anime"},
        {"character_description": "A courier.", "detailed_prompt": "word " * 120, "style_notes": ""},
        {"character_description": "A courier.", "detailed_prompt": 42, "style_notes": "anime"},
        {
            "character_description": "A courier.",
            "detailed_prompt": "word " * 120,
            "style_notes": "x",
            "extra": 1,
        },
        "this is not JSON",
    ],
)
async def test_answer_failing_the_schema_is_rejected_and_still_charged(
    openai_server: OpenAIServer, client: AsyncOpenAI, content: object
) -> None:
    openai_server.answer.content = content  # type: ignore[assignment]
    with pytest.raises(GenerationError) as caught:
        await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert caught.value.reason == "invalid_answer"
    assert caught.value.retryable is False
    assert caught.value.charged == token_cost("gpt-4o-mini", 1200, 300) > 0


async def test_refusal_is_not_an_answer(openai_server: OpenAIServer, client: AsyncOpenAI) -> None:
    openai_server.answer.content = None
    openai_server.answer.refusal = "I can't help with that."
    with pytest.raises(GenerationError) as caught:
        await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == ("refused", False)


async def test_rate_limits_are_waited_out_after_their_retry_after(
    openai_server: OpenAIServer, client: AsyncOpenAI
) -> None:
    openai_server.fail(429, retry_after=0.05, times=3)
    answer = await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert answer.source == "openai" and answer.character_description
    assert len(openai_server.completions()) == 4, "three 429s, then the answer"


async def test_an_exhausted_quota_is_not_waited_for(openai_server: OpenAIServer, client: AsyncOpenAI) -> None:
    openai_server.fail(429, retry_after=0.05, code="insufficient_quota")
    with pytest.raises(GenerationError) as caught:
        await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert caught.value.reason != "rate_limited"
    assert len(openai_server.completions()) == 1


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (500, "server_error", True),
        (503, "server_error", True),
        (400, "rejected", False),
        (403, "auth", False),
    ],
)
async def test_status_errors_are_classified(
    openai_server: OpenAIServer, client: AsyncOpenAI, status: int, reason: str, retryable: bool
) -> None:
    openai_server.fail(status)
    with pytest.raises(GenerationError) as caught:
        await OpenAIInterrogator(client).interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == (reason, retryable)


async def test_wrong_key_is_an_auth_error(openai_server: OpenAIServer) -> None:
    interrogator = OpenAIInterrogator(api_key="sk-wrong", base_url=openai_server.url, max_retries=0)
    with pytest.raises(GenerationError) as caught:
        await interrogator.interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == ("auth", False)
    assert "sk-wrong" not in str(caught.value)


async def test_unreachable_server_is_a_retryable_connection_error() -> None:
    interrogator = OpenAIInterrogator(
        api_key="sk-x", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2
    )
    with pytest.raises(GenerationError) as caught:
        await interrogator.interrogate(figure(), "image/png")
    assert (caught.value.reason, caught.value.retryable) == ("connection", True)


async def test_from_settings_honours_base_url_key_and_model(openai_server: OpenAIServer) -> None:
    settings = Settings(
        openai_api_key=openai_server.api_key, openai_base_url=openai_server.url, openai_model="gpt-4o"
    )
    result = await OpenAIInterrogator.from_settings(settings).interrogate(figure(), "image/png")
    assert result.model == "gpt-4o"
    assert result.cost == token_cost("gpt-4o", 1200, 300)
    assert openai_server.completions()[-1].headers["authorization"] == f"Bearer {openai_server.api_key}"


async def test_client_retries_once_by_default(openai_server: OpenAIServer) -> None:
    openai_server.fail(500)
    settings = Settings(openai_api_key=openai_server.api_key, openai_base_url=openai_server.url)
    result = await OpenAIInterrogator.from_settings(settings).interrogate(figure(), "image/png")
    assert result.source == "openai" and len(openai_server.completions()) == 2


def test_without_a_key_it_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIInterrogator.from_settings(Settings())


def test_unlisted_models_are_priced_at_the_dearest() -> None:
    assert token_cost("some-future-model", 1_000_000, 0) == Decimal("2.50")
