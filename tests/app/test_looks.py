"""Characters page from a fresh session: editing the description, a round of looks, more like this, a pick."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from components.setup import SONG_KEY
from studio.characters.priority import resolve
from studio.services import Services
from tests.app.conftest import OpenPage

SONG = "midnight-drive"


def _template_song(open_page: OpenPage) -> AppTest:
    at = open_page("pages/characters.py")
    at.session_state[SONG_KEY] = SONG
    at.run()
    at.button(key="template-character-2").click().run()
    assert not at.exception
    return at


def _wait_for_rounds(services: Services, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if services.records.looks.open_rounds(SONG) == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the round of looks did not finish")


def _button(at: AppTest, label: str) -> object:
    return next(b for b in [*at.button, *at.get("form_submit_button")] if b.label == label)


def test_a_round_of_looks_is_made_picked_and_refined(open_page: OpenPage, services: Services) -> None:
    at = _template_song(open_page)
    estimate = "Estimate: 4 looks on local, free (offline preview). Prompt: "
    assert any(c.value.startswith(estimate) for c in at.caption)
    at.slider(key=f"looks-count-{SONG}").set_value(3).run()
    assert any(c.value.startswith("Estimate: 3 looks") for c in at.caption)
    at.button(key=f"generate-looks-{SONG}").click().run()
    _wait_for_rounds(services)
    at.run()
    assert not at.exception
    picks = [b for b in at.button if b.key and b.key.startswith(f"pick-{SONG}-")]
    assert [b.key for b in picks] == [f"pick-{SONG}-r1-{n}" for n in (1, 2, 3)]
    at.button(key=f"pick-{SONG}-r1-2").click().run()
    resolved = resolve(services, SONG)
    assert resolved.primary is not None and resolved.primary.reason.startswith("picked look r1-2 at ")
    first = at.dataframe[-1].value.iloc[0]
    assert first["source"] == "generated" and first["reason"].startswith("picked look r1-2 at ")
    assert at.button(key=f"pick-{SONG}-r1-2").label == "Picked"

    assert any(m.value.startswith("**Current pick: r1-2**") for m in at.markdown), "the pick is pinned"
    more = at.button(key=f"more-{SONG}-r1-2")
    assert more.label == "More like this · 3 looks, free", "the estimate is on the button"
    more.click().run()
    assert not at.exception
    row = services.records.looks.look(SONG, "r2-1")
    assert row is not None and row[0].parent == "r1-2" and row[0].strength == 0.48, "one click started it"
    _wait_for_rounds(services)
    at.run()
    assert {f"pick-{SONG}-r2-{n}" for n in (1, 2, 3)} <= {b.key for b in at.button}, "the count was kept"
    labels = [m.value for m in at.markdown if m.value.startswith("**Round ")]
    assert labels[0].startswith("**Round 2 · 3 looks · strength 0.48 · more like r1-2**"), "newest first"
    assert labels[1].startswith("**Round 1 ")
    assert any("more like this → round 2" in m.value for m in at.markdown), "the source card is marked"


def test_the_description_is_edited_and_its_prompt_counted(open_page: OpenPage, services: Services) -> None:
    at = _template_song(open_page)
    style = next(area for area in at.text_area if area.label == "Style notes")
    assert style.value == "flowing, natural organic design"
    style.set_value("ink wash, soft edges")
    _button(at, "Save edits").click().run()  # type: ignore[attr-defined]
    assert not at.exception and not at.error
    assert any(area.label == "Style notes (edited)" for area in at.text_area)
    assert any("**edited**" in c.value for c in at.caption)
    prompt = next(m.value for m in at.markdown if m.value.startswith("**Consistent-character prompt**"))
    assert "CLIP tokens" in prompt
    assert any(c.value.startswith("ink wash, soft edges, ") for c in at.caption), "the edit comes first"
    row = services.records.songs.song(SONG)
    assert (
        row is not None and row.character_interrogation_edits_json == '{"style_notes":"ink wash, soft edges"}'
    )
    at.button(key=f"revert-description-{SONG}").click().run()
    assert services.records.songs.song(SONG).character_interrogation_edits_json is None  # type: ignore[union-attr]


def test_the_character_model_is_chosen_on_the_page(open_page: OpenPage, services: Services) -> None:
    at = _template_song(open_page)
    at.selectbox(key=f"character-model-{SONG}").set_value("google/nano-banana-2").run()
    assert not at.exception
    song = services.records.songs.song(SONG)
    assert song is not None and song.character_model == "google/nano-banana-2"
    assert any("takes no seed" in c.value for c in at.caption)
    assert any(c.value.startswith("Estimate: 4 looks on local with google/nano-banana-2") for c in at.caption)
    at.selectbox(key=f"character-model-{SONG}").set_value("sdxl").run()
    song = services.records.songs.song(SONG)
    assert song is not None and song.character_model == "sdxl"
