"""Pickers list every plan the studio knows (drafts and jobs' plans) and name plans and jobs by title."""

from __future__ import annotations

from studio.plans.catalog import TITLE_CHARS, list_jobs, list_plans, plan_title
from studio.prompts.edits import save_plan
from studio.references import jobs
from studio.samples import load_sample
from studio.services import Services


def test_a_title_is_the_summarys_first_sentence_cut_at_a_word() -> None:
    assert plan_title("A lone singer on a rooftop at dusk.", "x") == "A lone singer on a rooftop at dusk"
    long = "A neon-soaked chase through a rain-slick city that ends in a quiet diner. Then more."
    title = plan_title(long, "x")
    assert title == "A neon-soaked chase through a rain-slick city…"
    assert len(title) <= TITLE_CHARS
    assert plan_title("  ", "1a2b3c4d-0000-4000-8000-000000000000") == "Plan 1a2b3c4d"


def test_a_saved_draft_is_listed_with_its_title(services: Services) -> None:
    plan = load_sample("minimal")
    save_plan(services, plan, "sample minimal")
    [summary] = list_plans(services)
    assert (summary.job_id, summary.source, summary.scenes) == (str(plan.job_id), "sample minimal", 1)
    assert summary.title == "A lone singer on a rooftop at dusk" and summary.images == 2


def test_a_plan_whose_job_was_started_elsewhere_is_listed(services: Services) -> None:
    draft = load_sample("minimal")
    save_plan(services, draft, "sample minimal")
    cli = load_sample("music-video")
    jobs.submit(services, cli)
    jobs.submit(services, draft)
    listed = {p.job_id: p for p in list_plans(services)}
    assert set(listed) == {str(draft.job_id), str(cli.job_id)}
    assert listed[str(cli.job_id)].source == "job" and listed[str(cli.job_id)].scenes == 4
    assert listed[str(draft.job_id)].source == "sample minimal", "a draft wins over its job's plan"
    titles = {j.job_id: j.title for j in list_jobs(services)}
    assert titles[str(cli.job_id)] == "A neon-soaked chase through a rain-slick city…"
