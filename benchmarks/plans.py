"""Synthetic scene plans of any size, built from the sample plans' vocabulary."""

from __future__ import annotations

import uuid
from typing import Any

from studio.plans.scene_plan import ScenePlan

PLACES = [
    "forest clearing",
    "desert highway",
    "harbor",
    "library",
    "train car",
    "greenhouse",
    "arcade",
    "lighthouse",
    "night market",
    "laundromat",
    "bowling alley",
    "observatory",
    "bridge",
    "parking garage",
    "ferris wheel",
    "cathedral",
    "ice rink",
    "car wash",
    "rooftop pool",
    "bookshop",
    "gas station",
    "ballroom",
    "canyon",
    "snowy cabin",
]
PEOPLE = [
    "teenage boy with curly red hair and a yellow raincoat",
    "elderly man with a white beard and a tweed flat cap",
    "woman in her forties with a black bob and a green silk blouse",
    "girl of ten with braids and star sunglasses",
    "bald drummer with tattoos and a leather vest",
    "tall masked dancer in a white bodysuit",
]
TIMES = ["dawn", "morning", "noon", "afternoon", "dusk", "night", "midnight"]


def synthetic_plan(references: int, characters_share: float = 0.2, seed: int = 1) -> ScenePlan:
    characters = max(1, round(references * characters_share))
    scenes = references - characters
    data: dict[str, Any] = {
        "job_id": str(uuid.UUID(int=seed * 10**6 + references, version=4)),
        "video_summary": f"Benchmark plan with {references} references",
        "characters": [
            {"id": f"char{i}", "description": f"A {PEOPLE[i % len(PEOPLE)]}", "role": "supporting"}
            for i in range(characters)
        ],
        "scenes": [
            {
                "id": f"scene{i}",
                "description": f"A {PLACES[i % len(PLACES)]}, seen in a wide establishing shot",
                "time_of_day": TIMES[i % len(TIMES)],
            }
            for i in range(scenes)
        ],
        "style": {
            "color_palette": ["#264653", "#2A9D8F", "#E9C46A", "#F4A261", "#E76F51"],
            "visual_style": "35mm film photography",
            "mood": "nostalgic",
            "lighting": "natural soft light",
            "cinematography": "wide lenses, symmetrical framing",
        },
    }
    return ScenePlan.model_validate(data)
