from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from studio.errors import InvalidInput
from studio.plans.scene_plan import Character, CharacterFeatures, Scene, ScenePlan, Style, load_plan
from studio.prompts import (
    CHARACTER_NEGATIVE,
    CLIP_USABLE_TOKENS,
    SCENE_NEGATIVE,
    character_prompt,
    clip_visible,
    count_tokens,
    palette_words,
    scene_prompt,
    synthesize,
)
from studio.prompts.synthesis import time_of_day_words
from studio.samples import PLANS_DIR as SAMPLES_DIR
from tests.conftest import PLANS_DIR

STYLE = Style(
    color_palette=["#FF7A59", "#1B1B2F"],
    visual_style="neo-noir cyberpunk",
    mood="tense",
    lighting="hard neon rim light",
    cinematography="anamorphic widescreen, handheld",
)


@pytest.fixture
def plan(plan_path: Path) -> ScenePlan:
    return load_plan(plan_path)


def test_one_prompt_per_scene_then_per_character_in_plan_order(plan: ScenePlan) -> None:
    prompts = synthesize(plan)
    assert [p.ref for p in prompts] == [f"scene_{s.id}" for s in plan.scenes] + [
        f"character_{c.id}" for c in plan.characters
    ]
    assert [p.kind for p in prompts] == ["scene"] * len(plan.scenes) + ["character"] * len(plan.characters)
    assert prompts[0].subject_id == plan.scenes[0].id
    assert prompts[0].subject == plan.scenes[0].description
    assert synthesize(plan) == prompts


def test_scene_framing_time_of_day_mood_and_named_colours() -> None:
    prompt = scene_prompt(
        Scene(id="alley", description="Narrow alley with puddles", time_of_day="night"), STYLE
    )
    text = prompt.prompt
    assert text.startswith("wide establishing shot of narrow alley with puddles, no people")
    assert "at night" in text
    assert "tense mood" in text
    assert "coral and midnight blue color scheme" in text
    assert "#" not in text
    assert "anamorphic widescreen" in text
    assert text.endswith("highly detailed, professional quality, 4K")
    assert prompt.palette == ("#FF7A59", "#1B1B2F")
    assert prompt.negative_prompt == SCENE_NEGATIVE


@pytest.mark.parametrize(
    ("time_of_day", "words"),
    [("dawn", "at dawn"), ("noon", "at noon"), ("dusk", "at dusk"), ("midnight", "at midnight"),
     ("blue hour", "blue hour"), (None, None)],
)  # fmt: skip
def test_time_of_day_words_and_verbatim_unknowns(time_of_day: str | None, words: str | None) -> None:
    text = scene_prompt(Scene(id="s", description="A harbor", time_of_day=time_of_day), STYLE).prompt
    if words:
        assert f"no people, {words}" in text
    else:
        assert "no people, tense mood" in text


@pytest.mark.parametrize(
    ("description", "subject"),
    [
        ("Flat city rooftop", "flat city rooftop"),
        ("A harbor at low tide", "a harbor at low tide"),
        ("Neo-noir alley", "neo-noir alley"),
        ("Empty, wet street", "empty, wet street"),
        ("\u00c9l\u00e9gant ballroom", "\u00e9l\u00e9gant ballroom"),
        ("NYC subway platform", "NYC subway platform"),
        ("DJ booth in a club", "DJ booth in a club"),
        ("TV studio", "TV studio"),
        ("iPhone glowing on a desk", "iPhone glowing on a desk"),
        ("McQueen's garage", "McQueen's garage"),
        ("O'Brien's pub", "O'Brien's pub"),
        ("R2D2 workshop", "R2D2 workshop"),
        ("I-95 at night", "I-95 at night"),
        ("1950s diner", "1950s diner"),
        ("quiet field", "quiet field"),
    ],
)
def test_only_a_capitalised_ordinary_first_word_is_lower_cased(description: str, subject: str) -> None:
    scene = scene_prompt(Scene(id="s", description=description), Style()).prompt
    assert scene.startswith(f"wide establishing shot of {subject}, no people")
    character = character_prompt(Character(id="c", description=description), Style()).prompt
    assert character.startswith(f"full-body character reference of {subject}, single character")


def test_character_framing_name_and_features() -> None:
    character = Character(
        id="mara",
        name="Mara",
        description="Young courier with a messenger bag",
        features=CharacterFeatures(hair="short silver", eyes="green", clothing="a yellow raincoat", age="24"),
    )
    prompt = character_prompt(character, STYLE)
    text = prompt.prompt
    assert text.startswith("full-body character reference of Mara, young courier with a messenger bag")
    expected = ["short silver hair", "green eyes", "wearing a yellow raincoat", "aged 24"]
    expected += [
        "neutral standing pose",
        "plain background",
        "single character",
        "coral and midnight blue color scheme",
    ]
    for words in expected:
        assert words in text
    assert "anamorphic" not in text  # camera moves describe clips, not a reference sheet
    assert prompt.ref == "character_mara"
    assert prompt.negative_prompt == CHARACTER_NEGATIVE


def test_negative_prompts_per_image_type_extend_the_seed() -> None:
    seed = "blurry, static, low quality, distorted, watermark, text overlay"
    assert SCENE_NEGATIVE.startswith(seed) and "people" in SCENE_NEGATIVE
    assert CHARACTER_NEGATIVE.startswith(seed)
    for words in ("identity drift", "face warping", "extra limbs", "multiple characters", "cropped"):
        assert words in CHARACTER_NEGATIVE


def test_subject_comes_before_style_and_survives_the_clip_cut(plan: ScenePlan) -> None:
    wordy = Scene(id="wordy", description="Harbor " + "with rusting cranes and gulls " * 16)
    prompts = [*synthesize(plan), scene_prompt(wordy, plan.style)]
    assert prompts[-1].truncated_by_clip, "a subject longer than the budget is kept whole"
    for prompt in prompts:
        assert prompt.token_count == count_tokens(prompt.prompt)
        assert prompt.truncated_by_clip == (prompt.token_count > 75)
        assert prompt.char_count == len(prompt.prompt)
        visible = clip_visible(prompt.prompt)
        subject_words = [w for w in prompt.subject.lower().replace(",", " ").split() if w.isalpha()]
        assert all(w in visible for w in subject_words), (prompt.ref, visible)
        subject_at = prompt.prompt.lower().index(prompt.subject.lower()[:20])
        assert "aesthetic" not in prompt.prompt or prompt.prompt.index("aesthetic") > subject_at


def test_long_prompts_are_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    description = " ".join(f"lantern{n}" for n in range(120))
    prompt = scene_prompt(Scene(id="long", description=description), STYLE)
    assert len(prompt.prompt) <= 500
    assert prompt.prompt.endswith("...")
    head, full = prompt.prompt[:-3], f"wide establishing shot of {description}"
    assert full.startswith(head)
    assert full[len(head)] == " "
    assert prompt.truncated_by_clip


def test_empty_description_is_invalid_input_naming_the_field() -> None:
    scene = Scene.model_construct(id="blank", description="   ", time_of_day=None)
    with pytest.raises(InvalidInput) as caught:
        scene_prompt(scene, STYLE, "scenes[3]")
    assert caught.value.field == "scenes[3].description"
    character = Character.model_construct(id="c", description="", role="x", name=None, features=None)
    with pytest.raises(InvalidInput, match=r"characters\[0\]\.description"):
        synthesize(ScenePlan.model_construct(job_id="j", scenes=[], characters=[character], style=STYLE))


def test_prompts_are_frozen(plan: ScenePlan) -> None:
    prompt = synthesize(plan)[0]
    with pytest.raises(ValidationError):
        prompt.prompt = "changed"  # type: ignore[misc]


def test_empty_style_leaves_no_dangling_commas() -> None:
    prompt = scene_prompt(Scene(id="s", description="A quiet field."), Style())
    assert (
        prompt.prompt
        == "wide establishing shot of a quiet field, no people, highly detailed, professional quality, 4K"
    )


SAMPLE_PLANS = sorted(PLANS_DIR.glob("*.json")) + sorted(SAMPLES_DIR.glob("*.json"))


@pytest.mark.parametrize("path", SAMPLE_PLANS, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_the_sample_plans_prompts_fit_sdxls_75_tokens_and_keep_what_matters(path: Path) -> None:
    plan = load_plan(path)
    for prompt, subject in zip(synthesize(plan), [*plan.scenes, *plan.characters], strict=True):
        assert prompt.token_count <= CLIP_USABLE_TOKENS, (prompt.ref, prompt.token_count, prompt.prompt)
        text = prompt.prompt
        framing = "no people" if prompt.kind == "scene" else "neutral standing pose"
        assert text.startswith(("wide establishing shot of", "full-body character reference of"))
        assert framing in text
        if isinstance(subject, Scene) and subject.time_of_day:
            assert time_of_day_words(subject.time_of_day).split(",")[0] in text
        if plan.style.mood:
            assert f"{plan.style.mood.strip()} mood" in text
        if plan.style.color_palette:
            assert all(word in text for word in palette_words(plan.style.color_palette))


def test_an_overlong_prompt_gives_up_quality_tags_camera_and_lighting_before_mood_and_colours() -> None:
    wordy = Style(
        color_palette=["#FF7A59", "#1B1B2F", "#00FFFF"],
        visual_style="neo-noir cyberpunk with chrome and glass towers",
        mood="tense then tender",
        lighting="hard neon rim light, wet reflections, volumetric fog beams",
        cinematography="anamorphic widescreen, handheld, slow dolly pushes",
    )
    scene = Scene(
        id="alley", description="Narrow alley with puddles reflecting neon signs", time_of_day="night"
    )
    prompt = scene_prompt(scene, wordy)
    assert prompt.token_count <= CLIP_USABLE_TOKENS
    for kept in ("narrow alley", "no people", "at night", "tense then tender mood", "color scheme"):
        assert kept in prompt.prompt
    for dropped in ("professional quality", "anamorphic"):
        assert dropped not in prompt.prompt
    roomy = scene_prompt(scene, Style(mood="tense", lighting="hard neon rim light"))
    assert roomy.prompt.endswith("hard neon rim light, highly detailed, professional quality, 4K")
