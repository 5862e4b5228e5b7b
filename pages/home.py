"""Home: where the current song stands (Characters → Plan → Generate → Review), recent work, the demo;
backends, keys and health in an expander."""

import streamlit as st

from components.backends import offline_notice
from components.doctor_panel import backends_and_health
from components.identity import actor
from components.jobs import recent_jobs_table
from components.setup import current_job_id, current_song_id, page_setup, select_job
from components.songs import recent_songs_table
from components.steps import creator_guide
from studio.errors import StudioError
from studio.prompts.edits import overrides, save_plan
from studio.references import jobs
from studio.samples import DEMO_PLAN, load_sample

services = page_setup()
who = actor()
st.title("Reference Studio")
st.caption("Reference images for every scene and character of a music video, before clip generation.")
offline_notice(services)

st.subheader("Your song, step by step")
creator_guide(services, current_song_id(), current_job_id())

with st.container(border=True):
    song_id = current_song_id()
    song_id = song_id if song_id and services.records.songs.song(song_id) else None
    with_song = f", its lead character drawn from song *{song_id}*" if song_id else ""
    st.markdown(
        f"**Try it**: generate every reference of the sample plan *{DEMO_PLAN}* on the active backends"
        f"{with_song}."
    )
    if st.button(
        "Run the demo",
        type="primary",
        icon=":material/play_arrow:",
        key="run-demo",
        disabled=not who.may("create"),
        help=None if who.may("create") else "Only creators generate.",
    ):
        plan = load_sample(DEMO_PLAN)
        save_plan(services, plan, f"sample {DEMO_PLAN}", actor=who)
        try:
            job_id = jobs.submit(
                services, plan, overrides=overrides(services, plan), song_id=song_id, actor=who
            )
        except StudioError as error:
            st.warning(str(error))
            job_id = str(plan.job_id)
        select_job(job_id)
        st.switch_page("pages/generate.py")

st.subheader("Recent jobs")
recent_jobs_table(services)
st.subheader("Recent songs")
recent_songs_table(services)

if who.may("doctor"):
    with st.expander("Backends, keys and health", icon=":material/settings:"):
        backends_and_health(services)
