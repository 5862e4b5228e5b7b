"""Money in the app reads in dollars, one format, with every digit on hover and in the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from components.setup import JOB_KEY
from studio.references import jobs
from studio.samples import load_sample
from studio.services import Services
from studio.work.runner import drain
from tests.app.conftest import OpenPage
from tests.fakes import ScriptedGenerator


def test_costs_show_dollars_with_the_exact_amounts_on_hover_and_in_the_ledger(
    open_page: OpenPage, services: Services
) -> None:
    scripted = dataclasses.replace(services, generator=ScriptedGenerator(cost=Decimal("0.0053")))
    job_id = jobs.submit(scripted, load_sample("music-video"))
    asyncio.run(drain(scripted))
    at = open_page("pages/costs.py")
    at.session_state[JOB_KEY] = job_id
    at.run()
    [total] = [m for m in at.metric if m.label == "total"]
    assert total.value == "$0.032" and total.proto.help.startswith("$0.0318")
    [per_image] = [m for m in at.metric if m.label == "per image"]
    assert per_image.value == "$0.0053"
    ledger = at.dataframe[-1].value
    assert set(ledger["amount"]) == {"$0.0053"} and set(ledger["saved"]) == {"$0.00"}
    jobs_table = at.dataframe[0].value
    assert list(jobs_table["plan"]) == ["A neon-soaked chase through a rain-slick city…"]
