"""Settings refuse what fails later: keys that are not ASCII, waits that never end; values never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from studio.settings import Settings, settings_problems

SECRETS = ("REPLICATE_API_TOKEN", "OPENAI_API_KEY", "SUPABASE_KEY", "STUDIO_SIGNING_KEY")


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "input_value" not in str(caught.value), "a value was echoed"
    assert not any(value in str(caught.value) for value in env.values() if len(value) > 5)
    return settings_problems(caught.value)


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("value", ["r8_s\u00e9cret", "sk-abc def", "key\u200bwith-zero-width", "tab\tinside"])
def test_a_secret_that_is_not_printable_ascii_is_named_and_not_echoed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    [problem] = problems(monkeypatch, **{name: value})
    assert problem.startswith(f"{name}: must be printable ASCII")


def test_surrounding_whitespace_of_a_secret_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "  sk-test-123\n")
    key = Settings().openai_api_key
    assert key is not None and key.get_secret_value() == "sk-test-123"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REFERENCE_GEN_TIMEOUT", "inf"),
        ("REFERENCE_GEN_TIMEOUT", "nan"),
        ("STUDIO_LEASE_SECONDS", "inf"),
        ("REFERENCE_RETRY_BACKOFF", "inf"),
        ("STUDIO_BUDGET_PER_MINUTE", "NaN"),
    ],
)
def test_waits_and_budgets_are_finite(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    [problem] = problems(monkeypatch, **{name: value})
    assert problem.startswith(f"{name}: ")


def test_every_problem_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = problems(monkeypatch, REPLICATE_API_TOKEN="\u00e9", STUDIO_LEASE_SECONDS="nan")
    assert [p.split(":")[0] for p in listed] == ["REPLICATE_API_TOKEN", "STUDIO_LEASE_SECONDS"]
