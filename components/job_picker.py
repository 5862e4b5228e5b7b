"""Choosing which generation job a page looks at (Review, Costs), following the app's current job."""

from __future__ import annotations

from components.pickers import sticky_select
from components.setup import current_job_id, select_job
from studio.plans.catalog import list_jobs
from studio.services import Services


def job_picker(services: Services, key: str) -> str | None:
    """A select box over the newest jobs, named by their plans' titles; None when there are none."""
    jobs = {job.job_id: job for job in list_jobs(services, 50)}
    if not jobs:
        return None
    return sticky_select(
        "Job",
        list(jobs),
        key=key,
        current=current_job_id(),
        choose=select_job,
        format_func=lambda job_id: f"{jobs[job_id].label} · {jobs[job_id].status}",
        help="Jobs are named by their plan's summary, when they started and the end of their id.",
    )
