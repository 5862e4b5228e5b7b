"""Home: which backends are active, which keys are set, where the data lives, recent work, the demo."""

import streamlit as st

from components.backends import backend_panel, key_status
from components.doctor_panel import doctor_panel
from components.jobs import recent_jobs_table
from components.setup import fingerprint, page_setup, select_job
from components.songs import recent_songs_table
from studio import jobs
from studio.errors import StudioError
from studio.prompt_edits import overrides, save_plan
from studio.samples import DEMO_PLAN, load_sample

studio = page_setup()
st.title("Reference Studio")
st.caption("Reference images for every scene and character of a music video, before clip generation.")

demo, about = st.columns([1, 2])
with demo:
    st.subheader("Try it")
    st.write(f"Generate every reference of the sample plan **{DEMO_PLAN}** on the active backends.")
    if st.button("Run the demo", type="primary", icon=":material/play_arrow:", key="run-demo"):
        plan = load_sample(DEMO_PLAN)
        save_plan(studio, plan, f"sample {DEMO_PLAN}")
        try:
            job_id = jobs.submit(studio, plan, overrides=overrides(studio, plan))
        except StudioError as error:
            st.warning(str(error))
            job_id = str(plan.job_id)
        select_job(job_id)
        st.switch_page("pages/generate.py")
with about:
    st.subheader("Backends")
    backend_panel(studio)

keys, data = st.columns(2)
with keys:
    st.subheader("Keys")
    key_status(studio)
with data:
    st.subheader("Data")
    st.markdown(f"Data directory: `{studio.settings.data_dir.resolve()}`")
    st.caption("Set STUDIO_DATA_DIR to keep the studio's files elsewhere.")

st.subheader("Health")
doctor_panel(fingerprint(), studio.settings)

st.subheader("Recent jobs")
recent_jobs_table(studio)
st.subheader("Recent songs")
recent_songs_table(studio)
