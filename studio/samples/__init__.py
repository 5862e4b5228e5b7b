"""Sample scene plans shipped with the studio, for the one-click demo and a first look without a plan."""

from __future__ import annotations

from pathlib import Path

from studio.errors import InvalidInput
from studio.plans.scene_plan import ScenePlan, load_plan

PLANS_DIR = Path(__file__).with_name("plans")
DEMO_PLAN = "music-video"


def sample_plans() -> list[str]:
    """The names of the sample plans (file stems), e.g. `minimal`, `music-video`, `road-trip-32`."""
    return sorted(path.stem for path in PLANS_DIR.glob("*.json"))


def load_sample(name: str) -> ScenePlan:
    if name not in sample_plans():
        raise InvalidInput("sample", f"{name!r} is not one of {', '.join(sample_plans())}")
    return load_plan(PLANS_DIR / f"{name}.json")
