"""The plan's scenes, characters and style as tables and fields, saved together; no JSON needed."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from components.plans import keep_plan, show_invalid
from studio.errors import InvalidInput
from studio.plans.editing import (
    StyleFields,
    character_rows,
    edited_plan,
    scene_rows,
    style_fields,
)
from studio.plans.scene_plan import TIMES_OF_DAY, ScenePlan
from studio.services import Services


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(name): value for name, value in row.items()} for row in records]


def plan_form(services: Services, plan: ScenePlan) -> None:
    """Edit descriptions, times of day, names and roles, add or remove rows, then save the plan once."""
    digest = hashlib.sha256(plan.model_dump_json().encode()).hexdigest()[:12]
    key = f"plan-form-{plan.job_id}-{digest}"
    scenes = scene_rows(plan)
    times = [*TIMES_OF_DAY, *sorted({s["time_of_day"] for s in scenes} - {*TIMES_OF_DAY, ""})]
    style = style_fields(plan)
    with st.form(key, border=False):
        st.markdown("**Scenes**: one reference image each, an empty establishing shot of the place.")
        scene_frame = st.data_editor(
            pd.DataFrame(scenes, columns=["id", "description", "time_of_day"]),
            key=f"{key}-scenes",
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            column_config={
                "id": st.column_config.TextColumn(
                    "id", help="Letters, digits, - and _; names the image (scene_<id>)", width="small"
                ),
                "description": st.column_config.TextColumn("description", width="large", required=True),
                "time_of_day": st.column_config.SelectboxColumn("time of day", options=times),
            },
        )
        st.markdown("**Characters**: one full-body reference sheet each.")
        character_frame = st.data_editor(
            pd.DataFrame(character_rows(plan), columns=["id", "name", "role", "description"]),
            key=f"{key}-characters",
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            column_config={
                "id": st.column_config.TextColumn("id", width="small"),
                "name": st.column_config.TextColumn("name", width="small"),
                "role": st.column_config.TextColumn("role", width="small", help="e.g. main character"),
                "description": st.column_config.TextColumn("description", width="large", required=True),
            },
        )
        st.markdown("**Style**: used by every prompt.")
        left, right = st.columns(2)
        visual = left.text_input("Visual style", style.visual_style, key=f"{key}-visual")
        mood = left.text_input("Mood", style.mood, key=f"{key}-mood")
        palette = left.text_input(
            "Colour palette", style.palette, key=f"{key}-palette", help="Hex colours, e.g. #FF2E88, #00E5FF"
        )
        lighting = right.text_input("Lighting", style.lighting, key=f"{key}-lighting")
        camera = right.text_input(
            "Cinematography", style.cinematography, key=f"{key}-camera", help="Scenes only"
        )
        saved = st.form_submit_button(
            "Save scenes, characters and style", type="primary", icon=":material/save:"
        )
    if not saved:
        return
    fields = StyleFields(
        visual_style=visual, mood=mood, lighting=lighting, cinematography=camera, palette=palette
    )
    try:
        changed = edited_plan(plan, _records(scene_frame), _records(character_frame), fields)
    except InvalidInput as error:
        show_invalid(error)
        return
    keep_plan(services, changed, "edited in the form")
    st.rerun()
