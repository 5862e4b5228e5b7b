"""Prompts SDXL reads whole: phrases taken in order of importance until 75 CLIP tokens are used.

A phrase already said (inside one said before, or made only of words said before) is not said again, and
sentences that are notes about the answer rather than a description of the image (an interrogator's
disclaimers) never get in. What does not fit is left out whole, never cut mid-phrase, except a first
phrase longer than the budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from studio.prompts.synthesis import lower_first_word
from studio.prompts.tokens import CLIP_USABLE_TOKENS, clip_split, count_tokens

QUALITY_WORDS = (
    "high quality",
    "detailed",
    "consistent character design",
    "clear features",
    "professional illustration",
)
"""Said last, in whatever room the description leaves."""
_NOTE = re.compile(
    r"\b(not identified|cannot (?:be )?identif|can't identif|unable to|measured offline|as an ai"
    r"|i (?:cannot|can't|am unable)|i'm (?:unable|sorry|not able)|sorry\b|disclaimer|note:)",
    re.IGNORECASE,
)
"""Sentences about the answer itself (what was not identified, what cannot be said), never the image."""
_QUALITY_TAG = re.compile(
    r"^(?:(?:highly |very |ultra[- ]?)?detailed|high quality|best quality|masterpiece|sharp focus|\d+k"
    r"|(?:\d+k )?(?:uhd|hdr)|professional(?: quality| illustration)?|consistent character design"
    r"|clear(?: readable)? features|high resolution|hi-?res)$",
    re.IGNORECASE,
)
"""Quality tags an interrogator mixes into its prompt: said with the quality words, at the end."""
_LINKING_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "with",
        "and",
        "in",
        "on",
        "at",
        "to",
        "by",
        "for",
        "from",
        "its",
        "his",
        "her",
        "their",
        "is",
        "are",
    ]
)
"""Words that say nothing alone: a phrase whose other words were all said already adds nothing."""
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_PHRASE = re.compile(r"\s*,\s*")
_LEADING = re.compile(r"^(?:style|prompt|description)\s*:\s*", re.IGNORECASE)


class FittedPrompt(BaseModel):
    """A prompt within CLIP's budget, its count, and the phrases that did not fit."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    token_count: int
    left_out: tuple[str, ...] = ()
    token_limit: int = CLIP_USABLE_TOKENS


def is_note(sentence: str) -> bool:
    """A disclaimer or note about the interrogation rather than words describing the image."""
    return bool(_NOTE.search(sentence))


def is_quality_tag(phrase: str) -> bool:
    return bool(_QUALITY_TAG.fullmatch(phrase.strip()))


def _key(phrase: str) -> str:
    return " ".join(re.sub(r"[^\w\s-]", " ", phrase.lower()).split())


def phrases(text: str) -> list[str]:
    """The comma- and sentence-separated phrases of `text`, notes dropped, trailing stops removed."""
    found: list[str] = []
    for sentence in _SENTENCE.split(text.strip()):
        if not sentence.strip() or is_note(sentence):
            continue
        for phrase in _PHRASE.split(sentence):
            clean = _LEADING.sub("", " ".join(phrase.split()).strip(" ,.;:!?"))
            if clean:
                found.append(lower_first_word(clean))
    return found


def fit_phrases(groups: Iterable[Iterable[str]], budget: int = CLIP_USABLE_TOKENS) -> FittedPrompt:
    """Phrases of `groups`, most important first, joined with commas while they fit `budget` tokens."""
    chosen: list[str] = []
    said: list[str] = []
    told: set[str] = set()
    left_out: list[str] = []
    for group in groups:
        for phrase in group:
            key = _key(phrase)
            words = set(key.split()) - _LINKING_WORDS
            if not key or any(f" {key} " in f" {earlier} " for earlier in said) or words <= told:
                continue
            said.append(key)
            candidate = ", ".join([*chosen, phrase])
            if count_tokens(candidate) <= budget:
                chosen.append(phrase)
                told |= words
            elif not chosen:
                head, tail = clip_split(phrase, budget)
                if head:
                    chosen.append(head.rstrip(" ,;."))
                if tail:
                    left_out.append(tail)
            else:
                left_out.append(phrase)
    prompt = ", ".join(chosen)
    return FittedPrompt(prompt=prompt, token_count=count_tokens(prompt), left_out=tuple(left_out))


def fit_prompt(text: str, budget: int = CLIP_USABLE_TOKENS) -> FittedPrompt:
    """One text (a creator's prompt, an older look's) within the budget, its phrases in their order."""
    return fit_phrases([phrases(text)], budget)
