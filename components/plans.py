"""Choosing, loading and editing the scene plan a page works on."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from components.pickers import sticky_select
from components.setup import current_job_id, select_job
from studio.catalog import PlanSummary, list_plans, title_of
from studio.errors import InvalidInput
from studio.plan import ScenePlan, parse_plan
from studio.prompt_edits import get_plan, save_plan
from studio.samples import load_sample, sample_plans
from studio.services import Services


def plan_label(plan: PlanSummary) -> str:
    return f"{plan.title} · {plan.scenes} scenes, {plan.characters} characters"


def plan_picker(studio: Services, key: str) -> ScenePlan | None:
    """A select box over every plan the studio knows, following the current job; None when there are none."""
    plans = {p.job_id: p for p in list_plans(studio)}
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
    return get_plan(studio, chosen)


def _keep(studio: Services, plan: ScenePlan, source: str) -> None:
    save_plan(studio, plan, source)
    select_job(str(plan.job_id))
    st.toast(f"Plan {title_of(plan)} saved ({source}).")


def show_invalid(error: InvalidInput) -> None:
    st.error(f"**{error.field}**: {error.problem}")


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
                _keep(studio, parse_plan(file.getvalue()), f"upload {file.name}"[:160])
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
