"""The doctor's report on the Home page: does each configured service answer, and what to set if not."""

from __future__ import annotations

import streamlit as st

from studio.doctor import DoctorReport, diagnose
from studio.settings import Settings

_ICONS = {"ok": "✅", "failed": "❌", "skipped": "➖"}


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
        st.error(f"{len(report.problems)} check(s) failed; each says what to set.", icon=":material/error:")
    st.dataframe(
        [
            {
                "": _ICONS[check.status],
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
