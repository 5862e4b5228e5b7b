"""A job's references as cards: stored ones as thumbnails with their parameters and a download of the
full PNG, failed ones with why in words and the provider's whole message one click away."""

from __future__ import annotations

import streamlit as st

from studio.money import usd
from studio.plans.catalog import counted
from studio.references.gallery import BoardReference, JobProgress, Thumbnail, full_image, thumbnails
from studio.references.outcome import image_failure_words
from studio.services import Services

PAGE_SIZE = 32
COLUMNS = 4


def _failed_card(reference: BoardReference) -> None:
    with st.container(border=True):
        st.markdown(f":red-badge[:material/error: failed] **{reference.ref}**")
        st.error(image_failure_words(reference.failure_reason))
        with st.expander("The provider's message"):
            st.code(reference.error or "No error was recorded.", language=None, wrap_lines=True)
        tries = counted(reference.attempts, "attempt")
        st.caption(f"{tries} · {usd(reference.cost)} · *Retry failed only* above tries it again.")


def _card(services: Services, reference: BoardReference, thumb: Thumbnail | None) -> None:
    if reference.status == "failed":
        _failed_card(reference)
        return
    if thumb is None:
        st.caption(f"`{reference.ref}`: image missing from storage")
        return
    st.image(thumb.data, caption=reference.ref, width="stretch")
    st.caption(f"seed {reference.seed} · {usd(reference.cost)} · {reference.generation_time:.2f}s")
    with st.expander("Parameters"):
        st.code(thumb.parameters or "(no parameters chunk)", language=None, wrap_lines=True)
    st.download_button(
        "Full PNG",
        data=lambda: full_image(services, reference.storage_key),
        file_name=f"{reference.ref}.png",
        mime="image/png",
        key=f"download-{reference.storage_key}",
        on_click="ignore",
        icon=":material/download:",
    )


def reference_gallery(services: Services, progress: JobProgress) -> None:
    """Stored references as thumbnails (at most 256 px, WebP) and failed ones as cards, 32 per page."""
    stored = [r for r in progress.references if r.status in ("stored", "failed")]
    if not stored:
        st.caption("No images yet.")
        return
    pages = (len(stored) + PAGE_SIZE - 1) // PAGE_SIZE
    page = 1
    if pages > 1:
        page = (
            st.segmented_control(
                "Gallery page", list(range(1, pages + 1)), default=1, key=f"gallery-page-{progress.job_id}"
            )
            or 1
        )
    shown = stored[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    thumbs = thumbnails(services, [(r.storage_key, r.content_id) for r in shown if r.status == "stored"])
    for start in range(0, len(shown), COLUMNS):
        for column, reference in zip(st.columns(COLUMNS), shown[start : start + COLUMNS], strict=False):
            with column:
                _card(services, reference, thumbs.get(reference.storage_key))
