"""`python -m studio interrogate IMAGE [--json]`: one run as a real process, the rest in-process for speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from tests.cli_runner import studio
from tests.servers.openai import SHORT_ANSWER, OpenAIServer
from tests.studio.interrogation.images import figure

KEYS = {"prompt", "character_description", "style_notes", "source", "model"}


@pytest.fixture
def hero(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    path.write_bytes(figure())
    return path


@pytest.fixture
def openai_env(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> OpenAIServer:
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    return openai_server


def test_json_has_exactly_the_promised_keys(tmp_path: Path) -> None:
    image = tmp_path / "hero.webp"
    image.write_bytes(figure(fmt="WEBP"))
    result = studio("interrogate", str(image), "--json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == KEYS
    assert document["source"] == "local" and "red" in document["prompt"]


def test_human_output(hero: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interrogate", str(hero)]) == 0
    out = capsys.readouterr().out
    assert "local (local-analysis-1)" in out and "full-body" in out


def test_openai_answer_through_the_cli(
    tmp_path: Path, openai_env: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "hero.jpg"
    image.write_bytes(figure(fmt="JPEG"))
    assert main(["interrogate", str(image), "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == KEYS and document["source"] == "openai"
    assert openai_env.completions()[-1].image_urls()[0].startswith("data:image/jpeg;base64,")
    assert openai_env.api_key not in captured.out + captured.err


def test_a_short_openai_answer_is_kept_and_its_length_noted(
    hero: Path, openai_env: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_env.answer.content = dict(SHORT_ANSWER)
    assert main(["interrogate", str(hero), "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == KEYS and document["source"] == "openai"
    assert document["prompt"] == SHORT_ANSWER["detailed_prompt"]
    assert "note: the detailed prompt has 18 words; 100-150 were asked" in captured.err
    assert len(openai_env.completions()) == 1, "asked and paid once, not again elsewhere"


def test_failing_openai_falls_back_to_local_with_a_note(
    hero: Path, openai_env: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_env.fail(400)
    assert main(["interrogate", str(hero), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["source"] == "local"
    assert "openai failed (rejected)" in captured.err


def test_invalid_images_exit_2_naming_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(figure()[:200])
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 64)
    for path in (text, truncated, gif, tmp_path / "missing.png"):
        assert main(["interrogate", str(path), "--json"]) == 2, path
        captured = capsys.readouterr()
        assert "IMAGE" in captured.err and str(path) in captured.err
        assert captured.out == ""


def test_unknown_interrogator_is_invalid_input(
    hero: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STUDIO_INTERROGATOR", "clip")
    assert main(["interrogate", str(hero)]) == 2
    assert "STUDIO_INTERROGATOR" in capsys.readouterr().err


def test_named_backend_without_key_is_a_configuration_error(
    hero: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STUDIO_INTERROGATOR", "openai")
    assert main(["interrogate", str(hero)]) == 1
    assert "OPENAI_API_KEY" in capsys.readouterr().err
