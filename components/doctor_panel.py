"""Backends and health on the Home page: what runs where, and does each configured service answer."""

from __future__ import annotations

import streamlit as st

from components.backends import backend_panel, key_status
from components.setup import fingerprint
from studio.operations.doctor import DoctorReport, diagnose
from studio.plans.catalog import counted
from studio.services import Services
from studio.settings import Settings


@st.cache_data(ttl=60, show_spinner="Asking each configured service…")
def _report(fingerprint: str, _settings: Settings) -> DoctorReport:
    return diagnose(_settings)


def doctor_panel(fingerprint: str, settings: Settings) -> None:
    """Run on demand (a dead service can take seconds to fail) and kept for a minute."""
    if not st.toggle("Check every configured service", key="doctor-toggle"):
        st.caption("The same report as `python -m studio doctor`.")
        return
    report = _report(fingerprint, settings)
    if report.healthy:
        st.success("Every configured service answers.", icon=":material/check_circle:")
    else:
        failed = counted(len(report.problems), "check")
        st.error(f"{failed} failed; each says what to set.", icon=":material/error:")
    st.dataframe(
        [
            {
                "status": check.status,
                "concern": check.concern,
                "check": check.name,
                "detail": check.detail,
                "fix": check.fix or "",
            }
            for check in report.checks
        ],
        hide_index=True,
        width="stretch",
    )


def backends_and_health(services: Services) -> None:
    """What runs where, which keys are set (never their values), where the data lives, and the doctor."""
    st.markdown("**Backends**")
    backend_panel(services)
    keys, data = st.columns(2)
    with keys:
        st.markdown("**Keys**")
        key_status(services)
    with data:
        st.markdown("**Data**")
        st.markdown(f"Data directory: `{services.settings.data_dir.resolve()}`")
        st.caption("Set STUDIO_DATA_DIR to keep the studio's files elsewhere.")
    st.markdown("**Health**")
    doctor_panel(fingerprint(), services.settings)
