"""Planning a job: the lead character conditioned by the song's character image reads whole in SDXL."""

from __future__ import annotations

from studio.generation.local import LocalImageGenerator
from studio.plans.scene_plan import load_plan
from studio.prompts import count_tokens
from studio.references.planning import lead_character, plan_references
from tests.conftest import PLANS_DIR


def test_the_conditioned_leads_prompt_fits_75_tokens_with_its_subject_first() -> None:
    plan = load_plan(PLANS_DIR / "music-video.json")
    lead = plan.characters[0] if lead_character(plan) == plan.characters[0].id else plan.characters[1]
    long = lead.model_copy(
        update={
            "description": lead.description + ", " + ", ".join(f"detail {n} of the jacket" for n in range(30))
        }
    )
    plan = plan.model_copy(update={"characters": [long if c.id == lead.id else c for c in plan.characters]})
    planned = {p.ref: p for p in plan_references(plan, LocalImageGenerator(), lead_image=b"song character")}
    conditioned = planned[f"character_{lead.id}"]
    assert conditioned.request.init_image == b"song character"
    assert conditioned.token_count == count_tokens(conditioned.request.prompt) <= 75
    assert conditioned.request.prompt.startswith("full-body character reference of")
    unconditioned = plan_references(plan, LocalImageGenerator())
    assert next(p for p in unconditioned if p.ref == conditioned.ref).token_count > 75, "only the lead is cut"
