"""Choosing, loading and editing the scene plan a page works on."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from components.jobs import plan_label
from components.setup import current_job_id, select_job
from studio.errors import InvalidInput
from studio.input_files import read_stream
from studio.plan import MAX_PLAN_BYTES, ScenePlan, parse_plan
from studio.prompt_edits import get_plan, list_plans, save_plan
from studio.samples import load_sample, sample_plans
from studio.services import Services


def plan_picker(studio: Services, key: str) -> ScenePlan | None:
    """A select box over saved plans, defaulting to the current job; None when there are none."""
    plans = list_plans(studio)
    if not plans:
        return None
    ids = [p.job_id for p in plans]
    current = current_job_id()
    if current not in ids and current is not None and get_plan(studio, current) is not None:
        ids.insert(0, current)
    labels = {p.job_id: plan_label(p) for p in plans}
    chosen = st.selectbox(
        "Scene plan",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda job_id: labels.get(job_id, job_id),
        key=f"{key}-{current}",
    )
    if chosen != current:
        select_job(chosen)
    return get_plan(studio, chosen)


def _keep(studio: Services, plan: ScenePlan, source: str) -> None:
    save_plan(studio, plan, source)
    select_job(str(plan.job_id))
    st.toast(f"Plan {plan.job_id} saved ({source}).")


def show_invalid(error: InvalidInput) -> None:
    """Every problem of a refused plan, one line each, so a creator can fix them all in one go."""
    if len(error.problems) == 1:
        st.error(f"`{error.field}`: {error.problem}")
        return
    lines = "\n".join(f"- `{problem.field}`: {problem.problem}" for problem in error.problems)
    st.error(f"The plan has {len(error.problems)} problems:\n\n{lines}")


def plan_loader(studio: Services, plan: ScenePlan | None) -> None:
    """Three ways to a plan: a sample, an uploaded file, or the JSON edited in place."""
    sample, upload, edit = st.tabs(["Sample plan", "Upload a plan file", "Edit the plan"])
    with sample:
        names = sample_plans()
        name = st.selectbox("Sample", names, index=names.index("music-video"), key="sample-plan")
        if st.button("Load sample", key="load-sample"):
            _keep(studio, load_sample(name), f"sample {name}")
            st.rerun()
    with upload:
        file = st.file_uploader("Plan file (JSON)", type=["json"], key="plan-file")
        if file is not None and st.button("Use this file", key="use-plan-file"):
            try:
                file.seek(0)
                plan = parse_plan(read_stream(file, MAX_PLAN_BYTES, "plan file"))
                _keep(studio, plan, f"upload {file.name}"[:160])
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
                _keep(studio, parse_plan(text), "edited in the page")
                st.rerun()
            except InvalidInput as error:
                show_invalid(error)
