"""Reference Studio: the browser app. Pages live in pages/, logic in studio/."""

import streamlit as st

st.set_page_config(page_title="Reference Studio", page_icon="🎬", layout="wide")

PAGES = {
    "Studio": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Create": [
        st.Page("pages/characters.py", title="Characters", icon=":material/person:"),
        st.Page("pages/plan.py", title="Scene plan & prompts", icon=":material/edit_note:"),
        st.Page("pages/generate.py", title="Generate", icon=":material/movie:"),
    ],
    "Check": [
        st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
        st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
    ],
}

st.navigation(PAGES).run()
