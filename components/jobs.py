"""Lists of recent work for pickers and the Home page."""

from __future__ import annotations

import streamlit as st

from studio.money import usd
from studio.plans.catalog import list_jobs
from studio.services import Services

STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/autorenew:",
    "generating": ":material/autorenew:",
    "success": ":material/check_circle:",
    "completed": ":material/check_circle:",
    "stored": ":material/check_circle:",
    "partial": ":material/rule:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "superseded": ":material/history:",
    "skipped": ":material/block:",
}


def status_label(status: str) -> str:
    """A status with its Material icon, for Markdown (tables show the plain word)."""
    return f"{STATUS_ICONS.get(status, '')} {status}".strip()


def recent_jobs_table(services: Services, limit: int = 10) -> None:
    jobs = list_jobs(services, limit)
    if not jobs:
        st.caption("No jobs yet: load a plan on **Scene plan & prompts**, or run the demo.")
        return
    st.dataframe(
        [
            {
                "plan": job.title,
                "status": job.status,
                "provider": job.provider or "—",
                "spent": usd(job.spent),
                "budget": usd(job.budget),
                "created": job.created_at.strftime("%Y-%m-%d %H:%M"),
                "note": job.failure_reason or "",
            }
            for job in jobs
        ],
        hide_index=True,
        width="stretch",
    )
