"""Reference Studio: the browser app and its HTTP API on one server.

`streamlit run streamlit_app.py` finds `app` (an `st.App`) and serves it: the pages (this script, run by
Streamlit as `__main__`: the navigation is components/navigation.py, pages in pages/, logic in studio/) and
the `/api/v1` routes beside them (components/api_server.py).
"""

import streamlit as st

if __name__ == "__main__":
    from components.navigation import run_app

    run_app()
else:
    from components import api_server

    app = st.App("streamlit_app.py", routes=api_server.routes, lifespan=api_server.lifespan)
