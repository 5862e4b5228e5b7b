from __future__ import annotations

import time

import pytest

from studio.prompts.tokens import (
    CLIP_TOKEN_LIMIT,
    CLIP_USABLE_TOKENS,
    clip_split,
    clip_tokenizer,
    clip_visible,
    count_tokens,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a photo of a cat", 5),
        ("", 0),
        ("Hello, World!", 4),  # punctuation runs are tokens of their own
        ("1950s", 5),  # CLIP splits numbers into single digits
        ("#FF7A59", 6),  # '#', 'ff', then one token per character: hex is expensive and meaningless
        ("neo-noir", 3),
        ("highly detailed, professional quality, 4K", 8),
    ],
)
def test_known_counts(text: str, expected: int) -> None:
    assert count_tokens(text) == expected


# Counts from openai/CLIP's own simple_tokenizer (ftfy 6.3.1, the same merges file as ours), run once by
# hand: the reference this port must match, preprocessing included.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("don\u2019t stop", 3),  # curly apostrophe: ftfy straightens it, then 't is one token
        ("\u201cneon\u201d lights", 4),
        ("it\u2019s a \u201cquote\u201d \u2014 dash\u2026", 9),
        ("\ufb01re escape", 2),  # the ligature 'fi'
        ("\ufb02oating \ufb01sh", 2),
        ("\ufb00", 1),
        ("\uff21\uff22\uff23", 1),  # full-width ABC
        ("\uff2e\uff39\uff23\u3000subway", 2),  # full-width NYC and an ideographic space
        ("rock &amp; roll", 3),
        ("rock &amp;amp; roll", 3),
        ("&lt;b&gt;bold&lt;/b&gt;", 7),
        ("\u00e2\u20ac\u2122s mojibake", 4),  # UTF-8 read as Windows-1252, repaired
        ("cafe\u0301", 1),  # a combining accent
        ("caf\u00e9 d\u00e9j\u00e0 vu", 5),
        ("x\u00a0y", 2),
        ("\u6771\u4eac\u306e\u591c", 6),
        ("emoji \U0001f3b8 guitar", 3),
    ],
)
def test_counts_match_the_original_clip_tokenizer(text: str, expected: int) -> None:
    assert count_tokens(text) == expected


def test_clip_visible_shows_the_text_as_clip_normalised_it() -> None:
    assert clip_visible("\ufb01re escape, \uff21\uff22\uff23") == "fire escape , abc"
    assert clip_visible("don\u2019t stop") == "don 't stop"


def test_ids_match_openai_clip() -> None:
    assert clip_tokenizer().encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert clip_tokenizer().encode("Hello, World!") == [3306, 267, 1002, 256]


def test_case_whitespace_and_html_entities_do_not_change_the_count() -> None:
    assert count_tokens("  A   PHOTO\n of\ta cat ") == count_tokens("a photo of a cat")
    assert count_tokens("salt &amp; pepper") == count_tokens("salt & pepper")


def test_limit_constants() -> None:
    assert CLIP_TOKEN_LIMIT == 77
    assert CLIP_USABLE_TOKENS == 75


def test_clip_visible_shows_where_the_encoder_cuts() -> None:
    text = ", ".join(f"word{n}" for n in range(60))
    assert count_tokens(text) > CLIP_USABLE_TOKENS
    visible = clip_visible(text)
    assert visible.startswith("word 0 , word 1")
    assert count_tokens(visible) == CLIP_USABLE_TOKENS
    assert clip_visible("Café au lait") == "café au lait"


def test_counting_two_hundred_prompts_is_fast() -> None:
    count_tokens("warm up")
    prompts = [
        f"wide establishing shot of street number {n} with shop{n} signs, at dusk, golden mood, "
        f"{'neon ' * (n % 5)}cyberpunk aesthetic, hot pink and cyan color scheme, highly detailed, 4K"
        for n in range(200)
    ]
    started = time.perf_counter()
    counts = [count_tokens(p) for p in prompts]
    assert time.perf_counter() - started < 1.0
    assert all(c > 20 for c in counts)


def test_a_long_prompt_splits_at_the_last_word_clip_reads() -> None:
    prompt = "a warm 1950s diner with chrome stools, " * 8
    read, ignored = clip_split(prompt)
    assert f"{read} {ignored}" == prompt
    assert count_tokens(read) <= CLIP_USABLE_TOKENS < count_tokens(f"{read} {ignored.split()[0]}")
    assert clip_split("a rooftop at dusk") == ("a rooftop at dusk", "")
