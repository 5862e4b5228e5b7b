"""Generate: the estimate before starting, then each reference arriving live, the outcome and the gallery."""

import streamlit as st

from components.backends import offline_notice
from components.identity import actor
from components.plans import plan_picker
from components.progress_board import job_monitor
from components.setup import page_setup, select_job
from components.songs import song_choice
from studio.errors import InvalidInput, StudioError
from studio.inputs.text_and_numbers import SONG_SECONDS
from studio.money import usd
from studio.plans.catalog import counted
from studio.prompts.edits import overrides
from studio.records.jobs import ACTIVE
from studio.references import jobs

services = page_setup()
st.title("Generate")
offline_notice(services)

plan = plan_picker(services, key="generate-page-picker")
if plan is None:
    st.info("No plan yet: load one first.")
    st.page_link("pages/plan.py", label="Scene plan & prompts", icon=":material/edit_note:")
    st.stop()

job_id = str(plan.job_id)
song_length = max((clip.end for clip in plan.clip_scripts), default=0.0)
duration = st.number_input(
    "Song duration (seconds)",
    min_value=0.0,
    max_value=float(SONG_SECONDS.high),
    value=float(song_length),
    step=1.0,
    help="Sets the budget (duration in minutes x $200). 0 means unknown: the default job budget applies.",
    key=f"duration-{job_id}",
)
duration_seconds = duration or None
existing = services.records.jobs.get(job_id)
song_id = song_choice(services, existing.song_id if existing else None)
edits = overrides(services, plan)
estimate = jobs.estimate_cost(services, plan, duration_seconds, edits, song_id)
cols = st.columns(4)
cols[0].metric(
    "images", estimate.images, help=f"{len(plan.scenes)} scenes + {len(plan.characters)} characters"
)
cols[1].metric("to generate", estimate.to_pay, help=f"{estimate.reused} stored with identical parameters: $0")
cols[2].metric("estimate", usd(estimate.cost), help=usd(estimate.cost, exact=True))
cols[3].metric("budget", usd(estimate.budget))
if estimate.cost > estimate.budget:
    over = f"The estimate {usd(estimate.cost)} is over the budget {usd(estimate.budget)}"
    st.warning(f"{over}: some images will be refused.")
st.caption(
    f"{counted(len(edits), 'reference')} {'uses' if len(edits) == 1 else 'use'} your prompt edits. "
    "Stored images with identical parameters are reused at $0."
)

running = existing is not None and existing.status in ACTIVE
label = "Start generation" if existing is None else "Generate again (reuses stored images)"
if st.button(label, type="primary", icon=":material/play_arrow:", disabled=running, key=f"start-{job_id}"):
    try:
        select_job(jobs.submit(services, plan, duration_seconds, edits, song_id=song_id, actor=actor()))
    except (InvalidInput, StudioError) as error:
        st.error(str(error))
    else:
        st.rerun()

st.divider()
job_monitor(services, job_id)
