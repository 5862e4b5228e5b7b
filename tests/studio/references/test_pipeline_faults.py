"""The pipeline with the Replicate backend under the faults Replicate really produces, on the test server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.plans import synthetic_plan
from studio.money import from_nanos
from studio.references.jobs import generate_references
from studio.services import Services, build_services
from studio.settings import Settings
from studio.storage.keys import REFERENCE_BUCKET
from tests.servers.replicate import Faults, ReplicateServer

CONCURRENCY = 16


@pytest.fixture
def faulty_server() -> Iterator[ReplicateServer]:
    faults = Faults(
        rate_limited=0.2,
        unavailable=0.1,
        failed=0.05,
        hang_when=lambda inputs: "observatory" in inputs["prompt"],
        retry_after=0.05,
        per_request=1,
        seed=3,
    )
    with ReplicateServer(latency=0.3, output_scale=1 / 64, faults=faults) as server:
        yield server


def replicate_services(data_dir: Path, server: ReplicateServer, **settings: object) -> Services:
    return build_services(
        Settings(
            data_dir=data_dir,
            image_provider="replicate",
            replicate_api_token=server.token,
            replicate_base_url=server.base_url,
            reference_gen_timeout=1.0,
            retry_backoff=0.01,
            **settings,  # type: ignore[arg-type]
        )
    )


async def test_200_references_at_16_survive_rate_limits_outages_failures_and_hangs(
    data_dir: Path, faulty_server: ReplicateServer
) -> None:
    services = replicate_services(data_dir, faulty_server)
    plan = synthetic_plan(200)
    job_id = str(plan.job_id)
    try:
        result = await generate_references(services, job_id, plan, concurrency=CONCURRENCY)
    finally:
        await services.generator.aclose()

    answered = faulty_server.answered
    assert answered[429] >= 20 and answered[503] >= 10
    failed_predictions = [c for c in faulty_server.charges() if c.status == "failed"]
    hung = faulty_server.cancel_requests
    assert failed_predictions, "the seed must exercise failed predictions"
    assert len(hung) == sum("observatory" in s.description for s in plan.scenes) > 0

    rows = services.records.references.of_job(job_id)
    stored = {ref for ref, row in rows.items() if row.status == "stored"}
    lost = {ref: row.error for ref, row in rows.items() if row.status != "stored"}
    assert len(stored) == 200 - len(hung)
    assert all("timeout" in (error or "") for error in lost.values()), lost
    assert faulty_server.cancelled == len(hung)
    assert result is not None and result.status == "partial"
    for ref in stored:
        png = services.storage.get(REFERENCE_BUCKET, rows[ref].storage_key)
        assert Image.open(io.BytesIO(png)).format == "PNG"

    assert services.records.ledger.total(job_id) == faulty_server.charged_total() > 0
    _every_charge_is_ledgered_by_prediction(services, job_id, faulty_server)
    job = services.records.jobs.get(job_id)
    assert job is not None and job.reserved_nanos == 0
    assert from_nanos(job.spent_nanos) == faulty_server.charged_total() <= from_nanos(job.budget_nanos)
    assert faulty_server.max_in_flight() == CONCURRENCY
    services.close()


def _every_charge_is_ledgered_by_prediction(services: Services, job_id: str, server: ReplicateServer) -> None:
    """Each prediction the server charged (succeeded, failed or cancelled at the timeout) is one ledger line
    with its prediction id, its billed seconds and its cost: the ledger can be matched to the provider's."""
    entries = [e for e in services.records.ledger.entries(job_id=job_id) if not e.cache_hit]
    without = [(e.ref, e.amount, e.units) for e in entries if e.prediction_id is None]
    assert without == [], without
    by_prediction = {e.prediction_id: e for e in entries}
    assert None not in by_prediction and len(by_prediction) == len(entries)
    charges = server.charges()
    assert {c.status for c in charges} == {"succeeded", "failed", "canceled"}
    assert set(by_prediction) == {c.prediction_id for c in charges}
    for charge in charges:
        entry = by_prediction[charge.prediction_id]
        assert entry.amount == charge.cost, charge
        assert entry.units == Decimal(str(charge.predict_time)) > 0 and entry.unit_name == "second", charge


async def test_a_tight_budget_is_never_overshot(data_dir: Path, replicate_server: ReplicateServer) -> None:
    services = replicate_services(data_dir, replicate_server, default_job_budget=Decimal("0.0035"))
    plan = synthetic_plan(40)
    job_id = str(plan.job_id)
    try:
        await generate_references(services, job_id, plan, concurrency=CONCURRENCY)
    finally:
        await services.generator.aclose()

    rows = services.records.references.of_job(job_id)
    refused = [row for row in rows.values() if row.status == "failed"]
    assert refused and all("BudgetExceeded" in (row.error or "") for row in refused)
    total = services.records.ledger.total(job_id)
    assert total == replicate_server.charged_total() <= Decimal("0.0035")
    services.close()
