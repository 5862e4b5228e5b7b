"""A job's live board: status, per-image progress, cancel and retry, the outcome and the gallery.

It runs as a fragment that polls the records while the job is active, so every tab and a reload see the
same run, and the rest of the page never freezes.
"""

from __future__ import annotations

import streamlit as st

from components.gallery import reference_gallery
from components.identity import actor
from components.jobs import status_label
from studio.errors import StudioError
from studio.money import usd
from studio.references import jobs
from studio.references.gallery import JobProgress, job_progress, retry_failed
from studio.services import Services

POLL_SECONDS = 1.0
OUTCOMES = {
    "success": ("success", "Every reference is stored."),
    "partial": ("warning", "Partial success: at least half the images, with a scene and a character."),
    "failed": ("error", "The partial-success rule failed: clip generation falls back to text-only prompts."),
    "cancelled": (
        "info",
        "Cancelled by you: the images stored so far are kept; generate again for the rest.",
    ),
}


def _board(progress: JobProgress) -> None:
    done = progress.stored + progress.failed + progress.cancelled
    if (waiting := progress.rate_limit_wait()) > 0:
        st.info(
            f"Waiting for the provider's rate limit (about {waiting:.0f} s more): the images go on by "
            "themselves, none of them fails for it.",
            icon=":material/hourglass_top:",
        )
    st.progress(done / progress.total if progress.total else 0.0, text=f"{done} of {progress.total} done")
    values: list[tuple[str, int | str]] = [
        ("stored", progress.stored),
        ("generating", progress.in_flight),
        ("queued", progress.counts.get("queued", 0) + progress.counts.get("waiting", 0)),
        ("failed", progress.failed),
        *([("cancelled", progress.cancelled)] if progress.cancelled else []),
        ("spent", usd(progress.spent)),
    ]
    for column, (label, value) in zip(st.columns(len(values)), values, strict=True):
        column.metric(label, value)
    st.dataframe(
        [
            {
                "reference": r.ref,
                "status": r.status,
                "attempts": r.attempts,
                "time (s)": round(r.generation_time, 2),
                "cost": usd(r.cost),
                "error": r.error or "",
            }
            for r in progress.references
        ],
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * max(len(progress.references), 1), 400),
    )


def _outcome(services: Services, progress: JobProgress) -> None:
    kind, text = OUTCOMES.get(progress.status, ("info", progress.status))
    if progress.failure_reason:
        text += f" Reason: `{progress.failure_reason}`."
    run = f" · {progress.summary}" if progress.summary else ""
    getattr(st, kind)(
        f"**{status_label(progress.status)}** · {progress.stored} of {progress.total} stored{run}. {text}"
    )
    if progress.failed and st.button(
        "Retry failed only", icon=":material/refresh:", key=f"retry-{progress.job_id}"
    ):
        try:
            retry_failed(services, progress.job_id, actor=actor())
        except StudioError as error:
            st.error(str(error))
        else:
            st.rerun()


def _monitor(services: Services, job_id: str, live: bool) -> None:
    progress = job_progress(services, job_id)
    if progress is None:
        st.caption("Not started yet.")
        return
    if live and not progress.active:
        st.rerun()
    if progress.active:
        note = " (cancelling…)" if progress.cancel_requested else ""
        st.markdown(f"**{status_label(progress.status)}**{note}")
        if not progress.cancel_requested and st.button(
            "Cancel", icon=":material/stop:", key=f"cancel-{job_id}"
        ):
            jobs.cancel(services, job_id)
            st.rerun(scope="fragment")
    else:
        _outcome(services, progress)
    _board(progress)
    st.subheader("Gallery")
    reference_gallery(services, progress)


def job_monitor(services: Services, job_id: str) -> None:
    """The board for `job_id`, refreshed every second while the job is queued or running."""
    progress = job_progress(services, job_id)
    live = progress is not None and progress.active
    st.fragment(_monitor, run_every=POLL_SECONDS if live else None)(services, job_id, live)
