"""STUDIO_INTERROGATOR picks the order; the chain falls back on GenerationError and says why."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from studio.backends import build_interrogators as build_with_clients
from studio.clients import Clients
from studio.errors import ConfigurationError, GenerationError, InvalidInput
from studio.interrogation.base import Interrogation, Interrogator
from studio.interrogation.chain import interrogate_with_fallback
from studio.interrogation.local import LocalInterrogator
from studio.interrogation.openai import OpenAIInterrogator
from studio.interrogation.replicate import ReplicateInterrogator
from studio.services import build_services
from studio.settings import Settings
from tests.servers.openai import OpenAIServer
from tests.studio.interrogation.images import figure

KEYS = {"openai_api_key": "sk-test", "replicate_api_token": "r8_test"}


@dataclass
class Scripted:
    """An interrogator that fails with the given errors, then answers; records every call."""

    name: str
    errors: list[GenerationError] = field(default_factory=list)
    calls: int = 0

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Interrogation(
            prompt="p", character_description="d", style_notes="s", source=self.name, model="m"
        )


def build_interrogators(settings: Settings) -> tuple[list[Interrogator], object]:
    return build_with_clients(settings, Clients(settings))


def kinds(interrogators: list[Interrogator]) -> list[type]:
    return [type(i) for i in interrogators]


def test_auto_without_keys_is_local_only() -> None:
    interrogators, choice = build_interrogators(Settings())
    assert kinds(interrogators) == [LocalInterrogator]
    assert (choice.concern, choice.backend) == ("interrogation", "local")
    assert "no interrogation keys" in choice.reason


@pytest.mark.parametrize(
    ("keys", "expected", "backend"),
    [
        ({"openai_api_key": "sk-test"}, [OpenAIInterrogator, LocalInterrogator], "openai,local"),
        ({"replicate_api_token": "r8_test"}, [ReplicateInterrogator, LocalInterrogator], "replicate,local"),
        (KEYS, [OpenAIInterrogator, ReplicateInterrogator, LocalInterrogator], "openai,replicate,local"),
    ],
)
def test_auto_takes_every_configured_backend_then_local(
    keys: dict[str, str], expected: list[type], backend: str
) -> None:
    interrogators, choice = build_interrogators(Settings(**keys))  # type: ignore[arg-type]
    assert kinds(interrogators) == expected
    assert choice.backend == backend and choice.reason.startswith("auto:")
    assert "sk-test" not in choice.reason and "r8_test" not in choice.reason


def test_explicit_order_is_kept() -> None:
    interrogators, choice = build_interrogators(Settings(interrogator="replicate, openai", **KEYS))  # type: ignore[arg-type]
    assert kinds(interrogators) == [ReplicateInterrogator, OpenAIInterrogator]
    assert choice.backend == "replicate,openai" and "STUDIO_INTERROGATOR" in choice.reason


def test_local_alone_needs_no_keys() -> None:
    interrogators, _ = build_interrogators(Settings(interrogator="local"))
    assert kinds(interrogators) == [LocalInterrogator]


@pytest.mark.parametrize(
    ("selector", "key"), [("openai", "OPENAI_API_KEY"), ("local,replicate", "REPLICATE_API_TOKEN")]
)
def test_named_backend_without_its_key_says_what_to_set(selector: str, key: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        build_interrogators(Settings(interrogator=selector))


@pytest.mark.parametrize("selector", ["clip", "openai,gpt", "local,local"])
def test_unknown_or_repeated_names_are_invalid(selector: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_interrogators(Settings(interrogator=selector, **KEYS))  # type: ignore[arg-type]
    assert caught.value.field == "STUDIO_INTERROGATOR"


def test_services_carry_the_chain_and_its_choice(settings: Settings) -> None:
    services = build_services(settings)
    try:
        assert kinds(services.interrogators) == [LocalInterrogator]
        assert services.choice("interrogation").backend == "local"
    finally:
        services.close()


async def test_falls_back_on_generation_error_and_reports_why() -> None:
    failing = Scripted("openai", [GenerationError("down", retryable=True, reason="server_error")])
    answering = Scripted("replicate")
    seen: list[tuple[str, str]] = []
    result = await interrogate_with_fallback(
        [failing, answering], b"img", "image/png", lambda who, error: seen.append((who.name, error.reason))
    )
    assert result.source == "replicate"
    assert seen == [("openai", "server_error")]


async def test_first_answer_wins_and_later_ones_are_not_asked() -> None:
    first, second = Scripted("openai"), Scripted("local")
    assert (await interrogate_with_fallback([first, second], b"img", "image/png")).source == "openai"
    assert second.calls == 0


async def test_all_failing_raises_the_last_error_with_its_charge() -> None:
    last = GenerationError("bad answer", retryable=False, reason="invalid_answer", charged=Decimal("0.001"))
    chain = [Scripted("openai", [GenerationError("429", retryable=True)]), Scripted("replicate", [last])]
    with pytest.raises(GenerationError) as caught:
        await interrogate_with_fallback(chain, b"img", "image/png")
    assert caught.value is last and caught.value.charged == Decimal("0.001")


async def test_invalid_image_stops_the_chain() -> None:
    after = Scripted("replicate")
    with pytest.raises(InvalidInput):
        await interrogate_with_fallback([LocalInterrogator(), after], b"not an image", "image/png")
    assert after.calls == 0


async def test_empty_chain_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        await interrogate_with_fallback([], b"img", "image/png")


async def test_openai_rejected_answer_falls_back_to_local(openai_server: OpenAIServer) -> None:
    openai_server.answer.content = {"character_description": "?", "detailed_prompt": "", "style_notes": ""}
    settings = Settings(openai_api_key=openai_server.api_key, openai_base_url=openai_server.url)
    interrogators, _ = build_interrogators(settings)
    charged: list[Decimal] = []
    result = await interrogate_with_fallback(
        interrogators, figure(), "image/png", lambda _, error: charged.append(error.charged)
    )
    assert result.source == "local" and "red" in result.prompt
    assert charged and charged[0] > 0
