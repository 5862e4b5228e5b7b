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
from studio.references.outcome import reason_words
from studio.services import Services

POLL_SECONDS = 1.0
OUTCOMES = {
    "success": ("success", "Every reference is stored."),
    "partial": ("warning", "Enough for clips: at least half the images, with a scene and a character."),
    "failed": ("error", "Clip generation falls back to text-only prompts."),
    "cancelled": (
        "info",
        "Cancelled by you: the images stored so far are kept; generate again for the rest.",
    ),
}


SEGMENTS = (
    ("stored", "#2e9e5b"),
    ("reused", "#6cc4a1"),
    ("generating", "#4b8bd6"),
    ("failed", "#d9534f"),
    ("cancelled", "#8a8f98"),
)


def outcome_parts(progress: JobProgress) -> list[tuple[str, int]]:
    """The board's bar, by outcome: stored (made by this run), reused, generating, failed, cancelled; what
    is left is still to do."""
    return [
        ("stored", progress.stored - progress.reused),
        ("reused", progress.reused),
        ("generating", progress.in_flight),
        ("failed", progress.failed),
        ("cancelled", progress.cancelled),
    ]


def _bar(progress: JobProgress) -> None:
    parts = [(label, count) for label, count in outcome_parts(progress) if count]
    left = progress.total - sum(count for _, count in parts)
    colours = dict(SEGMENTS)
    total = max(progress.total, 1)
    segments = "".join(
        f'<div title="{count} {label}" style="width:{100 * count / total:.3f}%;'
        f'background:{colours[label]}"></div>'
        for label, count in parts
    )
    words = [f"{count} {label}" for label, count in parts] + ([f"{left} to do"] if left else [])
    st.html(
        '<div role="img" aria-label="' + ", ".join(words) + '" data-testid="outcome-bar" '
        'style="display:flex;height:10px;border-radius:5px;overflow:hidden;background:rgba(128,128,128,.25)">'
        f"{segments}</div>"
        f'<div style="font-size:.875rem;margin-top:.3rem">{" · ".join(words) or "nothing yet"}'
        f" of {progress.total}</div>"
    )


def _board(progress: JobProgress) -> None:
    _bar(progress)
    if (waiting := progress.rate_limit_wait()) > 0:
        st.info(
            f"Waiting for the provider's rate limit (about {waiting:.0f} s more): the images go on by "
            "themselves, none of them fails for it.",
            icon=":material/hourglass_top:",
        )
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
        text = f"{reason_words(progress.failure_reason).capitalize()}. {text}"
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
            jobs.cancel(services, job_id, actor=actor())
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
