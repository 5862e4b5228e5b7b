"""Prompts SDXL reads whole: phrases by importance within 75 CLIP tokens, none twice, no notes."""

from __future__ import annotations

from studio.prompts import count_tokens
from studio.prompts.fitting import fit_phrases, fit_prompt, phrases


def test_phrases_in_order_of_importance_until_the_budget_is_used() -> None:
    fitted = fit_phrases([["a tall woman", "red raincoat"], ["bright lighting"], ["highly detailed"]], 10)
    assert fitted.prompt == "a tall woman, red raincoat, bright lighting"
    assert fitted.token_count == count_tokens(fitted.prompt) == 10
    assert fitted.left_out == ("highly detailed",)


def test_no_phrase_twice_even_inside_a_longer_one() -> None:
    fitted = fit_prompt("flowing, natural organic design, flowing, Natural organic design. organic design")
    assert fitted.prompt == "flowing, natural organic design"
    longer = "full-body reference of the organic character"
    assert fit_phrases([[longer], ["the organic character"]]).prompt == longer


def test_interrogators_notes_and_disclaimers_never_get_in() -> None:
    text = (
        "A figure in a red coat. Measured offline from colour, light and framing; faces and clothing are not "
        "identified. I'm sorry, I can't identify real people. Short black hair."
    )
    assert phrases(text) == ["a figure in a red coat", "short black hair"]


def test_a_first_phrase_longer_than_the_budget_is_cut_at_a_word() -> None:
    fitted = fit_prompt(" ".join(["word"] * 100))
    assert fitted.token_count == 75 and fitted.prompt == " ".join(["word"] * 75)
    assert fit_prompt(fitted.prompt).prompt == fitted.prompt, "fitting a fitted prompt changes nothing"


def test_a_phrase_of_words_already_said_adds_nothing() -> None:
    fitted = fit_prompt("bright with high contrast, high contrast, the contrast, portrait frame, frame")
    assert fitted.prompt == "bright with high contrast, portrait frame"
