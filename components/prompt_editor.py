"""One reference's prompt at full width, with its CLIP token count and where SDXL stops reading."""

from __future__ import annotations

import streamlit as st

from components.identity import actor
from components.prompt_box import prompt_box
from components.prompt_table import generation, restart
from studio.errors import InvalidInput
from studio.plans.scene_plan import ScenePlan
from studio.prompts.edits import PromptChange, PromptRow, edit_reference, reset_reference
from studio.services import Services


def _label(row: PromptRow) -> str:
    marks = " · edited" if row.edited else ""
    return f"{row.ref} · {row.token_count} tokens{marks}"


def prompt_editor(services: Services, plan: ScenePlan, rows: list[PromptRow]) -> None:
    """Pick a reference, edit its prompt and negative prompt in full-width boxes, save or reset it."""
    job_id = str(plan.job_id)
    by_ref = {row.ref: row for row in rows}
    ref = st.selectbox(
        "Reference", list(by_ref), format_func=lambda r: _label(by_ref[r]), key=f"prompt-editor-ref-{job_id}"
    )
    row = by_ref[ref]
    key = f"prompt-editor-{job_id}-{ref}-{generation(job_id)}"
    prompt = prompt_box("Prompt", row.prompt, key=f"{key}-prompt")
    negative = st.text_area("Negative prompt", row.negative_prompt, height=90, key=f"{key}-negative")
    buttons = st.container(horizontal=True)
    if buttons.button("Save prompt", type="primary", icon=":material/save:", key=f"{key}-save"):
        try:
            edit_reference(
                services, plan, ref, PromptChange(prompt=prompt, negative_prompt=negative), actor=actor()
            )
        except InvalidInput as error:
            st.error(f"**{error.field}**: {error.problem}")
            return
        st.toast(f"{ref}: prompt saved.")
        restart(job_id)
    back = buttons.button(
        "Back to synthesized", icon=":material/undo:", key=f"{key}-reset", disabled=not row.edited
    )
    if back:
        reset_reference(services, plan, ref, actor=actor())
        restart(job_id)
