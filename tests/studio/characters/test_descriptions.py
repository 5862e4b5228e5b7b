"""Editing the interrogation: edits kept apart, surviving a re-interrogation, shown as differences, and the
consistent-character prompt made from the edited text."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from studio.characters.descriptions import describe, revert, save_edits
from studio.characters.look_rounds import looks_now
from studio.characters.looks import LooksRequest, list_looks, pick_look
from studio.characters.overview import requeue_consistency
from studio.characters.songs import apply_template, upload_character_image
from studio.errors import InvalidInput, NotFound
from studio.interrogation.base import Interrogation
from studio.prompts import count_tokens
from studio.services import Services
from studio.work.runner import drain
from tests.fakes import ScriptedGenerator
from tests.studio.characters import samples
from tests.studio.characters.conftest import song


class CountingInterrogator:
    """Answers a new detailed prompt on every call, so a re-run is told apart from the first run."""

    name = "openai"

    def __init__(self) -> None:
        self.calls = 0

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        self.calls += 1
        return Interrogation(
            prompt=f"portrait of a courier, take {self.calls}",
            character_description="A young courier with short black hair and a yellow raincoat.",
            style_notes="flat colours, bold outlines",
            source="openai",
            model="gpt-test",
        )


@pytest.fixture
def interrogated(services: Services) -> tuple[Services, ScriptedGenerator]:
    generator = ScriptedGenerator()
    run = dataclasses.replace(services, generator=generator, interrogators=[CountingInterrogator()])
    upload_character_image(run, "demo-song", samples.png())
    asyncio.run(drain(run))
    return run, generator


def test_edits_are_kept_apart_and_shown_as_differences(
    interrogated: tuple[Services, ScriptedGenerator],
) -> None:
    services, _ = interrogated
    edited = save_edits(
        services,
        "demo-song",
        {"character_description": "A young courier with a shaved head and a red raincoat."},
    )
    description, prompt, style = edited.fields
    assert (description.edited, prompt.edited, style.edited) == (True, False, False)
    assert description.interrogated == "A young courier with short black hair and a yellow raincoat."
    assert description.text == "A young courier with a shaved head and a red raincoat."
    changes = [(c.change, c.text) for c in description.changes if c.change != "same"]
    assert changes == [("removed", "short black hair"), ("added", "a shaved head"),
                       ("removed", "yellow"), ("added", "red")]  # fmt: skip
    assert "a shaved head and a red raincoat" in edited.consistent_prompt
    assert edited.token_count == count_tokens(edited.consistent_prompt) and edited.token_limit == 75
    row = song(services)
    source = Interrogation.model_validate_json(row.character_interrogation_json or "")
    assert source.character_description == description.interrogated and source.model == "gpt-test"
    assert (edited.source, edited.model) == ("openai", "gpt-test")


def test_edits_survive_a_re_run_of_the_interrogation_and_make_its_prompt(
    interrogated: tuple[Services, ScriptedGenerator],
) -> None:
    services, generator = interrogated
    save_edits(services, "demo-song", {"style_notes": "watercolour, soft edges"})
    requeue_consistency(services, "demo-song")
    asyncio.run(drain(services))
    after = describe(services, "demo-song")
    assert after is not None
    assert after.fields[1].text == "portrait of a courier, take 2", "the interrogation itself was re-run"
    assert after.fields[2].text == "watercolour, soft edges" and after.fields[2].edited
    assert generator.history[-1].prompt.startswith("watercolour, soft edges, "), "the creator's words first"
    assert generator.history[-1].prompt == after.consistent_prompt
    assert list_looks(services, "demo-song").picked == "r2-1", "the re-run's image replaces the job's own"


def test_a_re_run_never_replaces_a_look_the_creator_picked(
    interrogated: tuple[Services, ScriptedGenerator],
) -> None:
    services, _ = interrogated
    asyncio.run(looks_now(services, "demo-song", LooksRequest(count=2)))
    pick_look(services, "demo-song", "r2-2")
    requeue_consistency(services, "demo-song")
    asyncio.run(drain(services))
    listing = list_looks(services, "demo-song")
    assert [found.round for found in listing.rounds] == [1, 2, 3] and listing.picked == "r2-2"


def test_reverting_and_saving_the_interrogated_text_are_no_edit(
    interrogated: tuple[Services, ScriptedGenerator],
) -> None:
    services, _ = interrogated
    save_edits(services, "demo-song", {"prompt": "a courier at night"})
    assert revert(services, "demo-song", ("prompt",)) is not None
    assert song(services).character_interrogation_edits_json is None
    same = save_edits(services, "demo-song", {"style_notes": "  flat colours, bold outlines "})
    assert not same.edited and song(services).character_interrogation_edits_json is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"character_description": "   "}, "character_description"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"style_notes": "bad \x00 byte"}, "style_notes"),
        ({"mood": "dark"}, "field"),
    ],
)
def test_refused_edits_write_nothing(
    interrogated: tuple[Services, ScriptedGenerator], changes: dict[str, str], field: str
) -> None:
    services, _ = interrogated
    save_edits(services, "demo-song", {"prompt": "kept"})
    with pytest.raises(InvalidInput) as refused:
        save_edits(services, "demo-song", changes)
    assert refused.value.field == field
    assert song(services).character_interrogation_edits_json == '{"prompt":"kept"}'


def test_a_template_is_described_by_itself_and_a_new_upload_drops_the_edits(services: Services) -> None:
    with pytest.raises(NotFound):
        save_edits(services, "demo-song", {"prompt": "x"})
    apply_template(services, "demo-song", "character-3")
    found = describe(services, "demo-song")
    assert found is not None and (found.source, found.model) == ("template", "character-3")
    assert "bold, abstract artistic design" in found.consistent_prompt
    save_edits(services, "demo-song", {"style_notes": "ink"})
    upload_character_image(services, "demo-song", samples.png())
    assert (
        describe(services, "demo-song") is None and song(services).character_interrogation_edits_json is None
    )
    with pytest.raises(InvalidInput, match="no interrogation to edit yet"):
        save_edits(services, "demo-song", {"prompt": "x"})


EDIT = "A tall woman with a shaved head, a red raincoat and navy jeans, standing straight"
OPENAI_PROMPT = ", ".join(
    ["full-body portrait of a young courier", "short black hair", "round glasses", "freckled face"]
    + [f"detail number {n} of the yellow raincoat with reflective piping and many pockets" for n in range(12)]
)


def test_an_uploaded_photos_prompt_fits_sdxl_with_the_edit_first_and_no_notes(services: Services) -> None:
    upload_character_image(services, "demo-song", samples.png((300, 400)))
    asyncio.run(drain(services))
    found = save_edits(services, "demo-song", {"character_description": EDIT})
    assert found.notes, "the offline interrogator's note is shown to the creator"
    assert found.consistent_prompt.startswith(EDIT[0].lower() + EDIT[1:])
    assert found.token_count == count_tokens(found.consistent_prompt) <= 75
    assert "offline" not in found.consistent_prompt and "identified" not in found.consistent_prompt
    asyncio.run(looks_now(services, "demo-song", LooksRequest(count=1)))
    look = list_looks(services, "demo-song").rounds[-1]
    assert look.prompt == found.consistent_prompt and look.token_count <= 75


def test_openai_length_descriptions_fit_with_the_creators_words_inside(
    interrogated: tuple[Services, ScriptedGenerator],
) -> None:
    services, _ = interrogated
    assert len(OPENAI_PROMPT.split()) > 100
    found = save_edits(services, "demo-song", {"prompt": OPENAI_PROMPT, "character_description": EDIT})
    assert found.token_count <= 75 and "navy jeans, standing straight" in found.consistent_prompt
    assert found.consistent_prompt.index("navy jeans") < found.consistent_prompt.index("courier")
    assert found.left_out, "what did not fit is said"


def test_a_templates_prompt_says_nothing_twice(services: Services) -> None:
    apply_template(services, "demo-song", "character-2")
    found = describe(services, "demo-song")
    assert found is not None
    said = [phrase.strip() for phrase in found.consistent_prompt.split(",")]
    assert len(said) == len(set(said)) and found.consistent_prompt.count("organic design") == 1
    assert found.token_count <= 75
