"""Scene plan & prompts: load or edit a plan, then review and edit every reference's prompt."""

import streamlit as st

from components.plans import plan_loader, plan_picker
from components.prompt_table import prompt_table
from components.setup import page_setup

studio = page_setup()
st.title("Scene plan & prompts")
st.caption(
    "One reference image per scene and per character. Prompts are synthesized from the plan; "
    "your edits are stored separately and survive a re-synthesis."
)

plan = plan_picker(studio, key="plan-page-picker")
with st.expander("Load or edit a plan", expanded=plan is None):
    plan_loader(studio, plan)

if plan is None:
    st.info("No plan yet: load a sample plan above, upload a plan file, or paste one into the editor.")
    st.stop()

st.subheader(plan.video_summary or f"Plan {plan.job_id}")
style = plan.style
st.caption(
    f"Job `{plan.job_id}` · {len(plan.scenes)} scenes · {len(plan.characters)} characters · "
    f"style: {style.visual_style or '—'} · mood: {style.mood or '—'} · lighting: {style.lighting or '—'}"
)
if style.color_palette:
    st.markdown(" ".join(f":primary-badge[{colour}]" for colour in style.color_palette))

st.subheader("Prompts")
prompt_table(studio, plan)
st.page_link("pages/generate.py", label="Generate these references", icon=":material/movie:")
