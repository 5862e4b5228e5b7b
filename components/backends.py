"""Which backend each concern uses (offline preview vs live) and which keys are set, never their values."""

from __future__ import annotations

import streamlit as st

from studio.services import Services

LOCAL_BACKENDS = ("local", "sqlite")


def backend_badge(concern: str, backend: str) -> str:
    if backend not in LOCAL_BACKENDS:
        return ":green-badge[live]"
    return (
        ":orange-badge[offline preview]" if concern == "image generation" else ":gray-badge[on this machine]"
    )


def backend_panel(services: Services) -> None:
    """One line per concern: backend, badge, and why `auto` chose it."""
    for choice in services.choices:
        st.markdown(
            f"**{choice.concern}**: `{choice.backend}` {backend_badge(choice.concern, choice.backend)}"
        )
        st.caption(choice.reason)


def key_status(services: Services) -> None:
    status = services.settings.secret_status()
    st.table({"setting": list(status), "status": list(status.values())}, hide_index=True)


def offline_notice(services: Services) -> None:
    """A banner on pages that make images, so previews are never mistaken for SDXL output."""
    if services.choice("image generation").backend == "local":
        st.info(
            "Offline preview: images are drawn locally by Pillow, free and deterministic. "
            "Set REPLICATE_API_TOKEN to generate with SDXL.",
            icon=":material/palette:",
        )
