"""Altair charts of a cost report: spend by stage and provider (stacked), and cumulative spend over time.

Charts draw floats; every figure shown as text comes from the report's Decimals.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from studio.costs.report import CostReport, JobCost
from studio.money import usd
from studio.plans.catalog import JobSummary

DOLLARS = alt.Axis(format="$,.2~r")
"""Axis ticks in dollars with the digits that matter (`$0.005`, `$0.01`, `$1.5`), as `usd` writes amounts."""


def stage_provider_chart(report: CostReport) -> None:
    frame = pd.DataFrame(
        [
            {
                "stage": g.stage,
                "provider": g.provider,
                "amount": float(g.amount),
                "spent_text": usd(g.amount, exact=True),
                "calls": g.calls,
            }
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
            y=alt.Y("sum(amount):Q", title="spent", stack="zero", axis=DOLLARS),
            color=alt.Color("provider:N", title="provider"),
            tooltip=["stage", "provider", "calls", alt.Tooltip("spent_text:N", title="spent")],
        )
    )
    st.altair_chart(chart, width="stretch")


def cumulative_chart(report: CostReport) -> None:
    frame = pd.DataFrame(
        [
            {"at": p.at, "cumulative": float(p.cumulative), "spent_text": usd(p.cumulative, exact=True)}
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
            y=alt.Y("cumulative:Q", title="spent so far", axis=DOLLARS),
            tooltip=[
                alt.Tooltip("at:T", format="%H:%M:%S"),
                alt.Tooltip("spent_text:N", title="spent so far"),
            ],
        )
    )
    budget = alt.Chart(pd.DataFrame({"budget": [float(report.budget)]})).mark_rule(strokeDash=[4, 4])
    shown = chart if report.total * 10 < report.budget else chart + budget.encode(y="budget:Q")
    st.altair_chart(shown, width="stretch")


def budget_chart(jobs: list[JobCost], summaries: dict[str, JobSummary]) -> None:
    """Each job's spend in dollars, its budget in the tooltip; the job named as the pickers name it."""
    frame = pd.DataFrame(
        [
            {
                "job": summaries[j.job_id].label if j.job_id in summaries else j.job_id,
                "spent": float(j.spent),
                "status": j.status,
                "spent_text": usd(j.spent, exact=True),
                "budget_text": usd(j.budget),
                "share": f"{j.spent / j.budget:.1%}" if j.budget else "—",
            }
            for j in jobs
        ]
    )
    if frame.empty:
        return
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("spent:Q", title="spent", axis=DOLLARS),
            y=alt.Y("job:N", title=None, sort="-x", axis=alt.Axis(labelLimit=420)),
            tooltip=[
                "job",
                "status",
                alt.Tooltip("spent_text:N", title="spent"),
                alt.Tooltip("budget_text:N", title="budget"),
                alt.Tooltip("share:N", title="of the budget"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
