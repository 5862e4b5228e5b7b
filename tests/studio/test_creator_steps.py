"""Home's four steps say where the current song and plan stand, in a line each."""

from __future__ import annotations

import asyncio

from studio.characters.songs import apply_template
from studio.creator_steps import creator_steps
from studio.prompts.edits import save_plan
from studio.references import jobs
from studio.references.jobs import generate_references
from studio.review.gate import approve
from studio.samples import load_sample
from studio.services import Services


def test_a_fresh_studio_has_everything_to_do(services: Services) -> None:
    steps = creator_steps(services, None, None)
    assert [s.name for s in steps] == ["Characters", "Plan", "Generate", "Review"]
    assert {s.state for s in steps} == {"to do"}
    assert [s.page for s in steps] == [
        "pages/characters.py",
        "pages/plan.py",
        "pages/generate.py",
        "pages/review.py",
    ]
    unsaved = creator_steps(services, "midnight-drive", None)[0]
    assert unsaved.summary == "song midnight-drive: no character yet."


def test_each_step_reports_the_current_song_and_job(services: Services) -> None:
    apply_template(services, "midnight-drive", "character-2")
    plan = load_sample("minimal")
    job_id = save_plan(services, plan, "sample minimal")
    characters, planned, generate, review = creator_steps(services, None, None)
    assert characters.state == "done"
    assert characters.summary == "song midnight-drive: Organic Character (template) set."
    assert planned.summary == "plan “A lone singer on a rooftop at dusk” loaded: 1 scene, 1 character."
    assert (generate.state, review.state) == ("to do", "to do")

    jobs.submit(services, plan)
    assert creator_steps(services, "midnight-drive", job_id)[2].summary == "job queued 0/2."
    asyncio.run(generate_references(services, plan.job_id, plan))
    approve(services, job_id, "scene_rooftop", "tester")
    _, _, generate, review = creator_steps(services, "midnight-drive", job_id)
    assert (generate.state, generate.summary) == ("done", "job success: 2 of 2 stored.")
    assert (review.state, review.summary) == ("in progress", "1 of 2 approved (1 pending).")
    approve(services, job_id, "character_singer", "tester")
    review = creator_steps(services, "midnight-drive", job_id)[3]
    assert (review.state, review.summary) == ("done", "2 of 2 approved: ready to export for clip generation.")


def test_a_plan_with_long_prompts_needs_attention_only_until_it_is_generated(services: Services) -> None:
    """Prompts over 75 tokens are worth a look before paying; once the job is made and approved, Home does
    not send the creator back to Plan."""
    plan = load_sample("minimal")
    long = " ".join(["a rain-slick neon street with chrome reflections and drifting steam"] * 12)
    plan = plan.model_copy(
        update={"scenes": [plan.scenes[0].model_copy(update={"description": long})]}, deep=True
    )
    job_id = save_plan(services, plan, "long prompts")
    planned = creator_steps(services, None, job_id)[1]
    assert planned.state == "attention" and "over 75 tokens" in planned.summary
    asyncio.run(generate_references(services, plan.job_id, plan))
    for ref in ("scene_rooftop", "character_singer"):
        approve(services, job_id, ref, "tester")
    steps = creator_steps(services, None, job_id)
    assert [s.state for s in steps[1:]] == ["done", "done", "done"]
    assert "over 75 tokens" in steps[1].summary, "still said, no longer a call to act"
