"""Home's guide: Characters → Plan → Generate → Review, each step's state in a line and a link to its page.

Refreshed every two seconds while a step is in progress, so a running job's count moves on Home too.
"""

from __future__ import annotations

import streamlit as st

from studio.creator_steps import Step, creator_steps
from studio.services import Services

POLL_SECONDS = 2.0
STATE_LOOKS = {
    "to do": ("gray", ":material/radio_button_unchecked:"),
    "in progress": ("blue", ":material/pending:"),
    "done": ("green", ":material/check_circle:"),
    "attention": ("orange", ":material/error:"),
}


def _card(number: int, step: Step) -> None:
    colour, icon = STATE_LOOKS[step.state]
    with st.container(border=True, height="stretch"):
        st.markdown(f"**{number}. {step.name}** :{colour}-badge[{icon} {step.state}]")
        st.write(step.summary)
        st.page_link(step.page, label=f"Go to {step.name}", icon=":material/arrow_forward:")


def _guide(services: Services, song_id: str | None, job_id: str | None, live: bool) -> None:
    steps = creator_steps(services, song_id, job_id)
    if live and not any(step.state == "in progress" for step in steps):
        st.rerun()
    for number, (column, step) in enumerate(zip(st.columns(len(steps)), steps, strict=True), start=1):
        with column:
            _card(number, step)


def creator_guide(services: Services, song_id: str | None, job_id: str | None) -> None:
    """The four steps for the current song and job (or the most recent ones)."""
    live = any(step.state == "in progress" for step in creator_steps(services, song_id, job_id))
    st.fragment(_guide, run_every=POLL_SECONDS if live else None)(services, song_id, job_id, live)
