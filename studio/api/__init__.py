"""The HTTP API (`/api/v1`) a pipeline calls: the same service functions as the CLI and the pages.

Served beside the pages by `make run` (Streamlit's `st.App` takes the routes: components/api_server.py); the
OpenAPI document is at `/api/v1/openapi.json`. Local mode answers this machine only, as the local operator;
team mode asks for an API key (`python -m studio api-key create`).
"""

from studio.api.app import api_routes, build_api
from studio.api.paths import API_PREFIX

__all__ = ["API_PREFIX", "api_routes", "build_api"]
