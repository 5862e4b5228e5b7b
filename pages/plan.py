"""Scene plan & prompts: load a plan, edit its scenes, characters and style, and every reference's prompt."""

import streamlit as st

from components.plan_form import plan_form
from components.plans import palette_swatches, plan_loader, plan_picker
from components.prompt_editor import prompt_editor
from components.prompt_table import prompt_table
from components.setup import page_setup
from studio.plans.catalog import counted, title_of

services = page_setup()
st.title("Scene plan & prompts")
st.caption(
    "One reference image per scene and per character. Prompts are synthesized from the plan; "
    "your edits are stored separately and survive a re-synthesis."
)

plan = plan_picker(services, key="plan-page-picker")
if plan is None:  # the first visit shows the three ways in, not a folded expander
    st.info("No plan yet: load a sample plan, upload a plan file, or paste one into the editor.")
    with st.container(border=True):
        plan_loader(services, plan)
    st.stop()
with st.expander("Load a sample, upload a plan file, or edit the plan as JSON"):
    plan_loader(services, plan)

st.subheader(title_of(plan))
style = plan.style
st.caption(
    f"{counted(len(plan.scenes), 'scene')} · {counted(len(plan.characters), 'character')} · "
    f"style: {style.visual_style or '—'} · mood: {style.mood or '—'} · lighting: {style.lighting or '—'}"
)
if style.color_palette:
    palette_swatches(style.color_palette)

prompts, contents = st.tabs(["Prompts", "Scenes, characters & style"])
with prompts:
    rows = prompt_table(services, plan)
    st.markdown("**Edit one prompt at full width**")
    prompt_editor(services, plan, rows)
with contents:
    plan_form(services, plan)
st.page_link("pages/generate.py", label="Generate these references", icon=":material/movie:")
