"""One reference under review: the large view with its PNG parameters, versions side by side, the trail."""

from __future__ import annotations

import streamlit as st

from components.coverage import status_text
from studio.errors import InvalidInput, NotFound
from studio.gallery import full_image, thumbnail
from studio.money import usd
from studio.png_parameters import parse_parameters
from studio.review import ReferenceReview, ReferenceVersion
from studio.services import Services

LARGE_PX = 768
COMPARE_PX = 512


def _image(studio: Services, version: ReferenceVersion, size: int, caption: str) -> str | None:
    """Show a version's image; returns the PNG's embedded parameters text."""
    content = f"{version.version}:{version.seed}:{version.created_at.isoformat()}"
    try:
        shown = thumbnail(studio, version.storage_key, content_id=content, size=size)
    except (NotFound, InvalidInput):
        st.caption(f"{caption}: image missing from storage")
        return None
    st.image(shown.data, caption=caption, width="stretch")
    return shown.parameters


def large_view(studio: Services, reference: ReferenceReview) -> None:
    """The latest version big, with the parameters read back from the PNG itself."""
    version = reference.versions[-1]
    picture, details = st.columns([3, 2])
    with picture:
        text = _image(studio, version, LARGE_PX, f"{reference.ref} v{version.version}")
    with details:
        st.markdown(f"**{reference.ref}** · v{version.version} · {status_text(reference.status)}")
        if version.note:
            st.caption(f"Made because: {version.note}")
        parsed = parse_parameters(text) if text else {}
        st.dataframe(
            [{"parameter": name, "value": value} for name, value in parsed.items()]
            or [
                {"parameter": "prompt", "value": version.prompt},
                {"parameter": "seed", "value": str(version.seed)},
            ],
            hide_index=True,
            width="stretch",
        )
        st.caption(f"{version.provider} · {version.model_version} · {usd(version.cost)}")
        st.download_button(
            "Full PNG",
            data=lambda: full_image(studio, version.storage_key),
            file_name=f"{reference.ref}_v{version.version}.png",
            mime="image/png",
            on_click="ignore",
            key=f"review-png-{reference.ref}-{version.version}",
            icon=":material/download:",
        )


def compare_versions(studio: Services, reference: ReferenceReview) -> None:
    """Two versions side by side (default: the one before and the latest), with their decisions."""
    numbers = [v.version for v in reference.versions]
    if len(numbers) < 2:
        st.caption("Only one version so far: a regeneration adds the next one here.")
        return
    by_number = {v.version: v for v in reference.versions}
    for column, default in zip(st.columns(2), (numbers[-2], numbers[-1]), strict=True):
        with column:
            chosen = st.selectbox(
                "Version",
                numbers,
                index=numbers.index(default),
                format_func=lambda n: f"v{n} · {by_number[n].status}",
                key=f"compare-{reference.ref}-{default}",
            )
            version = by_number[chosen]
            _image(studio, version, COMPARE_PX, f"v{version.version} · seed {version.seed}")
            st.caption(version.prompt)


def audit_trail(reference: ReferenceReview) -> None:
    decisions = [d for v in reference.versions for d in v.decisions]
    if not decisions:
        st.caption("No decisions yet.")
        return
    st.dataframe(
        [
            {
                "version": f"v{d.version}",
                "decision": status_text(d.decision),
                "reason": d.reason or "",
                "reviewer": d.reviewer,
                "at": d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            }
            for d in sorted(decisions, key=lambda d: d.created_at)
        ],
        hide_index=True,
        width="stretch",
    )
