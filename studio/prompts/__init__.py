"""Prompt synthesis for reference images, with CLIP token counts and colours named in words."""

from studio.prompts.colours import colour_name, palette_words
from studio.prompts.synthesis import (
    CHARACTER_NEGATIVE,
    MAX_PROMPT_CHARS,
    SCENE_NEGATIVE,
    SynthesizedPrompt,
    character_prompt,
    scene_prompt,
    synthesize,
)
from studio.prompts.tokens import (
    CLIP_TOKEN_LIMIT,
    CLIP_USABLE_TOKENS,
    clip_split,
    clip_visible,
    count_tokens,
)

__all__ = [
    "CHARACTER_NEGATIVE",
    "CLIP_TOKEN_LIMIT",
    "CLIP_USABLE_TOKENS",
    "MAX_PROMPT_CHARS",
    "SCENE_NEGATIVE",
    "SynthesizedPrompt",
    "character_prompt",
    "clip_split",
    "clip_visible",
    "colour_name",
    "count_tokens",
    "palette_words",
    "scene_prompt",
    "synthesize",
]
