"""Choosing which generation job a page looks at (Review, Costs), defaulting to the app's current job."""

from __future__ import annotations

import streamlit as st

from components.setup import current_job_id, select_job
from studio.services import Services


def job_picker(studio: Services, key: str) -> str | None:
    """A select box over the newest jobs; None when there are none."""
    jobs = {job.id: job for job in studio.records.jobs.recent(50)}
    if not jobs:
        return None
    ids = list(jobs)
    current = current_job_id()
    chosen = st.selectbox(
        "Job",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda job_id: (
            f"{job_id} · {jobs[job_id].status} · {jobs[job_id].created_at:%Y-%m-%d %H:%M}"
        ),
        key=f"{key}-{current}",
    )
    if chosen != current:
        select_job(chosen)
    return str(chosen)
