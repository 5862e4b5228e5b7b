"""Altair charts of a cost report: spend by stage and provider (stacked), and cumulative spend over time.

Charts draw floats; every figure shown as text comes from the report's Decimals.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from studio.costs import CostReport, JobCost


def stage_provider_chart(report: CostReport) -> None:
    frame = pd.DataFrame(
        [
            {"stage": g.stage, "provider": g.provider, "amount": float(g.amount), "calls": g.calls}
            for g in report.by_stage_provider
        ]
    )
    if frame.empty:
        st.caption("No paid calls yet.")
        return
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("stage:N", title="stage"),
            y=alt.Y("sum(amount):Q", title="USD", stack="zero"),
            color=alt.Color("provider:N", title="provider"),
            tooltip=["stage", "provider", "calls", alt.Tooltip("amount:Q", format="$.4f")],
        )
    )
    st.altair_chart(chart, width="stretch")


def cumulative_chart(report: CostReport) -> None:
    frame = pd.DataFrame(
        [
            {"at": p.at, "cumulative": float(p.cumulative), "amount": float(p.amount)}
            for p in report.cumulative
        ]
    )
    if frame.empty:
        st.caption("No ledger entries yet.")
        return
    chart = (
        alt.Chart(frame)
        .mark_line(point=True, interpolate="step-after")
        .encode(
            x=alt.X("at:T", title="time"),
            y=alt.Y("cumulative:Q", title="USD spent"),
            tooltip=[alt.Tooltip("at:T", format="%H:%M:%S"), alt.Tooltip("cumulative:Q", format="$.4f")],
        )
    )
    budget = alt.Chart(pd.DataFrame({"budget": [float(report.budget)]})).mark_rule(strokeDash=[4, 4])
    shown = chart if report.total * 10 < report.budget else chart + budget.encode(y="budget:Q")
    st.altair_chart(shown, width="stretch")


def budget_chart(jobs: list[JobCost]) -> None:
    """Each job's spend as a share of its budget."""
    frame = pd.DataFrame(
        [
            {"job": j.job_id[:8], "spent": float(j.spent), "budget": float(j.budget), "status": j.status}
            for j in jobs
        ]
    )
    if frame.empty:
        return
    frame["used"] = frame["spent"] / frame["budget"].where(frame["budget"] > 0)
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("used:Q", title="share of budget spent", axis=alt.Axis(format="%")),
            y=alt.Y("job:N", title="job", sort="-x"),
            tooltip=[
                "job",
                "status",
                alt.Tooltip("spent:Q", format="$.4f"),
                alt.Tooltip("budget:Q", format="$,.2f"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
