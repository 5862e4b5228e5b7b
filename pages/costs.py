"""Costs: what each job spent against its budget, by stage and provider, over time, per image, and saved."""

import streamlit as st

from components.cost_chart import budget_chart, cumulative_chart, stage_provider_chart
from components.job_picker import job_picker
from components.setup import page_setup
from studio.costs.report import cost_report, entries_csv, job_costs, song_costs, units_words
from studio.money import usd
from studio.plans.catalog import list_jobs

services = page_setup()
st.title("Costs")

overview = job_costs(services)
summaries = {job.job_id: job for job in list_jobs(services)}
titles = {job_id: job.title for job_id, job in summaries.items()}
if not overview:
    st.info("No jobs yet: nothing has been spent.")
    st.page_link("pages/generate.py", label="Generate", icon=":material/movie:")
    st.stop()

st.subheader("Jobs against their budgets")
st.dataframe(
    [
        {
            "plan": titles.get(job.job_id, job.job_id),
            "status": job.status,
            "spent": usd(job.spent),
            "budget": usd(job.budget),
            "used": f"{job.spent / job.budget:.2%}" if job.budget else "—",
            "created": job.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for job in overview
    ],
    hide_index=True,
    width="stretch",
)
budget_chart(overview, summaries)

songs = song_costs(services)
if songs:
    st.subheader("Songs: their character beside the jobs that used it")
    st.dataframe(
        [
            {
                "song": song.song_id,
                "character": usd(song.character),
                "by stage": ", ".join(
                    f"{stage} {usd(amount)}" for stage, amount in sorted(song.by_stage.items())
                )
                or "—",
                "jobs": ", ".join(titles.get(job.job_id, job.job_id) for job in song.jobs) or "—",
                "jobs spent": usd(song.jobs_spent),
                "total": usd(song.total),
            }
            for song in songs
        ],
        hide_index=True,
        width="stretch",
    )

st.divider()
job_id = job_picker(services, key="costs-job")
assert job_id is not None
report = cost_report(services, job_id)
metrics = st.columns(5)
metrics[0].metric(
    "total", usd(report.total), help=f"{usd(report.total, exact=True)}: the job's calls and its song's"
)
metrics[1].metric("budget", usd(report.budget))
metrics[2].metric("remaining", usd(report.remaining), help=usd(report.remaining, exact=True))
per_image = report.cost_per_image
metrics[3].metric(
    "per image",
    usd(per_image) if per_image is not None else "—",
    help=f"{usd(per_image, exact=True) if per_image is not None else '—'} · {report.images} images stored",
)
metrics[4].metric("saved", usd(report.savings.total), help=usd(report.savings.total, exact=True))
st.caption(
    f"Saved by resumes: {report.savings.resumed_images} stored images reused "
    f"({usd(report.savings.saved_by_resumes)}); other cache hits: {report.savings.cache_hits} "
    f"({usd(report.savings.saved_by_cache)})."
    + (f" Includes song {report.song_id}'s character calls." if report.song_id else "")
)

by_stage, over_time = st.columns(2)
with by_stage:
    st.markdown("**By stage and provider**")
    stage_provider_chart(report)
with over_time:
    st.markdown("**Cumulative spend**")
    cumulative_chart(report)

st.markdown("**Ledger**")
st.dataframe(
    [
        {
            "time": e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "stage": e.stage,
            "provider": e.provider,
            "model": e.model,
            "reference": e.ref or "",
            "units": units_words(e.units, e.unit_name),
            "unit price": usd(e.unit_price, exact=True),
            "amount": usd(e.amount, exact=True),
            "cache hit": e.cache_hit,
            "saved": usd(e.saved, exact=True),
        }
        for e in report.entries
    ],
    hide_index=True,
    width="stretch",
)
st.download_button(
    "Download CSV",
    data=entries_csv(report),
    file_name=f"costs-{job_id}.csv",
    help="Amounts as plain decimals with every digit",
    mime="text/csv",
    key="costs-csv",
    icon=":material/download:",
)
