"""Choosing, loading and editing the scene plan a page works on."""

from __future__ import annotations

import hashlib
import html
import json

import streamlit as st

from components.identity import actor
from components.pickers import sticky_select
from components.setup import current_job_id, select_job
from studio.errors import InvalidInput
from studio.inputs.files import read_stream
from studio.plans.catalog import PlanSummary, list_plans, title_of
from studio.plans.editing import problem_lines
from studio.plans.scene_plan import MAX_PLAN_BYTES, ScenePlan, parse_plan
from studio.prompts import colour_name
from studio.prompts.edits import get_plan, save_plan
from studio.samples import load_sample, sample_plans
from studio.services import Services


def plan_label(plan: PlanSummary) -> str:
    return f"{plan.title} · {plan.size}"


def plan_picker(services: Services, key: str) -> ScenePlan | None:
    """A select box over every plan the studio knows, following the current job; None when there are none."""
    plans = {p.job_id: p for p in list_plans(services)}
    if not plans:
        return None
    chosen = sticky_select(
        "Scene plan",
        list(plans),
        key=key,
        current=current_job_id(),
        choose=select_job,
        format_func=lambda job_id: plan_label(plans[job_id]),
    )
    return get_plan(services, chosen)


def keep_plan(services: Services, plan: ScenePlan, source: str) -> None:
    """Save the plan as its job's draft and make it the app's current plan."""
    save_plan(services, plan, source, actor=actor())
    select_job(str(plan.job_id))
    st.toast(f"Plan {title_of(plan)} saved ({source}).")


def show_invalid(error: InvalidInput) -> None:
    """Every problem of a refused plan at once, one line each, fields named in words."""
    lines = problem_lines(error)
    if len(lines) == 1:
        st.error(lines[0], icon=":material/error:")
        return
    listed = "\n".join(f"- {line}" for line in lines)
    st.error(f"The plan was not saved: {len(lines)} things to fix.\n\n{listed}", icon=":material/error:")


def _text_colour(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#111111" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#FFFFFF"


def palette_swatches(colours: list[str]) -> None:
    """Each palette colour as a chip drawn in that colour, labelled with its hex and its name."""
    chips = "".join(
        f'<span style="background:{colour};color:{_text_colour(colour)};padding:0.2rem 0.7rem;'
        f'border-radius:1rem;margin-right:0.4rem;font-size:0.85rem;border:1px solid #ffffff33">'
        f"{colour} · {html.escape(colour_name(colour))}</span>"
        for colour in colours
    )
    st.html(f'<div class="palette">{chips}</div>')


def plan_loader(services: Services, plan: ScenePlan | None) -> None:
    """Three ways to a plan: a sample, an uploaded file, or its JSON (pasted, or edited in place)."""
    sample, upload, edit = st.tabs(["Sample plan", "Upload a plan file", "Plan JSON"])
    with sample:
        names = sample_plans()
        name = st.selectbox("Sample", names, index=names.index("music-video"), key="sample-plan")
        if st.button("Load sample", key="load-sample"):
            keep_plan(services, load_sample(name), f"sample {name}")
            st.rerun()
    with upload:
        file = st.file_uploader(
            "Plan file (JSON)",
            type=["json"],
            key="plan-file",
            max_upload_size=MAX_PLAN_BYTES // (1024 * 1024),
        )
        if file is not None and st.button("Use this file", key="use-plan-file"):
            try:
                file.seek(0)
                plan = parse_plan(read_stream(file, MAX_PLAN_BYTES, "plan file"))
                keep_plan(services, plan, f"upload {file.name}"[:160])
                st.rerun()
            except InvalidInput as error:
                show_invalid(error)
    with edit:
        start = json.dumps(plan.model_dump(mode="json"), indent=2) if plan else ""
        text = st.text_area(
            "Plan JSON", start, height=360, key=f"plan-json-{hashlib.sha256(start.encode()).hexdigest()[:12]}"
        )
        if st.button("Save plan", key="save-plan-json"):
            try:
                keep_plan(services, parse_plan(text), "edited in the page")
                st.rerun()
            except InvalidInput as error:
                show_invalid(error)
