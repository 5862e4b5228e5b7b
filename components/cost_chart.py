"""Altair charts of a cost report: spend by stage and provider (stacked), and cumulative spend over time.

Charts draw floats; every figure shown as text comes from the report's Decimals.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from studio.costs.report import CostReport, JobCost
from studio.money import usd


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
            y=alt.Y("sum(amount):Q", title="USD", stack="zero"),
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
            y=alt.Y("cumulative:Q", title="USD spent"),
            tooltip=[
                alt.Tooltip("at:T", format="%H:%M:%S"),
                alt.Tooltip("spent_text:N", title="spent so far"),
            ],
        )
    )
    budget = alt.Chart(pd.DataFrame({"budget": [float(report.budget)]})).mark_rule(strokeDash=[4, 4])
    shown = chart if report.total * 10 < report.budget else chart + budget.encode(y="budget:Q")
    st.altair_chart(shown, width="stretch")


def budget_chart(jobs: list[JobCost], titles: dict[str, str]) -> None:
    """Each job's spend as a share of its budget, the job named by its plan's title."""
    frame = pd.DataFrame(
        [
            {
                "plan": f"{titles.get(j.job_id, 'Plan')} · {j.job_id[:4]}",
                "spent": float(j.spent),
                "budget": float(j.budget),
                "status": j.status,
                "spent_text": usd(j.spent, exact=True),
                "budget_text": usd(j.budget),
            }
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
            y=alt.Y("plan:N", title=None, sort="-x", axis=alt.Axis(labelLimit=320)),
            tooltip=[
                "plan",
                "status",
                alt.Tooltip("spent_text:N", title="spent"),
                alt.Tooltip("budget_text:N", title="budget"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
