"""Jobs over HTTP: queued by POST and run by the runner, their state, their events as Server-Sent Events
(resumable, ending with the job), cancel, review and the manifest's refusals."""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient

from studio.services import Services
from tests.studio.api.conftest import JOB, MINIMAL, events_of, run_queued


def test_a_plan_is_queued_run_and_followed_to_its_end(local: TestClient, services: Services) -> None:
    queued = local.post("/api/v1/jobs", json={"plan": MINIMAL})
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert (body["job_id"], body["status"]) == (JOB, "queued")
    assert body["links"]["events"] == f"/api/v1/jobs/{JOB}/events"
    waiting = local.get(f"/api/v1/jobs/{JOB}").json()
    assert (waiting["status"], waiting["total"], waiting["result"]) == ("queued", 2, None)

    run_queued(services)
    state = local.get(f"/api/v1/jobs/{JOB}").json()
    assert state["status"] == "success" and state["counts"] == {"stored": 2}
    assert state["result"]["job_id"] == JOB and state["result"]["total_references"] == 2

    with local.stream("GET", f"/api/v1/jobs/{JOB}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = events_of(stream.iter_lines())
    assert events[0]["event"] == "stage_update" and events[0]["data"]["status"] == "queued"
    assert events[-1]["event"] == "stage_update" and events[-1]["data"]["status"] == "completed"
    completed = [e["data"]["ref"] for e in events if e["event"] == "reference_generation_complete"]
    assert sorted(completed) == ["character_singer", "scene_rooftop"], (
        "each once, in the order they were made"
    )
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)

    resumed_from = ids[2]
    with local.stream(
        "GET", f"/api/v1/jobs/{JOB}/events", headers={"Last-Event-ID": str(resumed_from)}
    ) as stream:
        resumed = events_of(stream.iter_lines())
    assert [int(e["id"]) for e in resumed] == ids[3:], "Last-Event-ID resumes after that event"


def test_every_problem_of_a_plan_is_named_at_once(local: TestClient) -> None:
    plan = copy.deepcopy(MINIMAL)
    plan["scenes"][0]["description"] = ""
    plan["characters"][0]["id"] = "no spaces"
    refused = local.post("/api/v1/jobs", json={"plan": plan})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_input"
    fields = {problem["field"] for problem in error["problems"]}
    assert {"scenes[0].description", "characters[0].id"} <= fields
    malformed = local.post("/api/v1/jobs", json={"plan": "not a plan", "concurrency": "many"})
    assert malformed.status_code == 422
    assert {p["field"] for p in malformed.json()["error"]["problems"]} == {"plan", "concurrency"}


def test_unknown_jobs_are_404_as_json(local: TestClient) -> None:
    for path in ("/api/v1/jobs/nope", "/api/v1/jobs/nope/events", "/api/v1/jobs/nope/manifest"):
        answer = local.get(path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", path
    assert local.get("/api/v1/no-such-route").json()["error"]["code"] == "not_found"


def test_review_then_manifest_refused_while_pending_and_for_previews(
    local: TestClient, services: Services
) -> None:
    local.post("/api/v1/jobs", json={"plan": MINIMAL})
    run_queued(services)
    manifest = f"/api/v1/jobs/{JOB}/manifest"
    pending = local.get(manifest)
    assert pending.status_code == 409
    assert pending.json()["error"]["pending"] == ["scene_rooftop", "character_singer"]

    review = f"/api/v1/jobs/{JOB}/references/scene_rooftop/review"
    no_reason = local.post(review, json={"decision": "reject"})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    decided = local.post(review, json={"decision": "approve"})
    assert decided.status_code == 200 and decided.json()["channel"] == "api"
    local.post(f"/api/v1/jobs/{JOB}/references/character_singer/review", json={"decision": "approve"})

    previews = local.get(manifest)
    assert previews.status_code == 409 and previews.json()["error"]["code"] == "offline_preview"
    assert "REPLICATE_API_TOKEN" in previews.json()["error"]["message"]
    allowed = local.get(manifest, params={"allow_preview": "true"})
    assert allowed.status_code == 200
    document = allowed.json()
    assert (document["job_id"], document["song_id"]) == (JOB, None)
    assert {(r["provider"], r["preview"]) for r in document["references"]} == {("local", True)}


def test_cancel_answers_the_jobs_status(local: TestClient, services: Services) -> None:
    local.post("/api/v1/jobs", json={"plan": MINIMAL})
    cancelled = local.post(f"/api/v1/jobs/{JOB}/cancel")
    assert cancelled.status_code == 200 and cancelled.json() == {"job_id": JOB, "status": "cancelled"}
    with local.stream("GET", f"/api/v1/jobs/{JOB}/events") as stream:
        assert events_of(stream.iter_lines())[0]["data"]["status"] == "queued", "an ended job's stream ends"


def test_a_plan_without_a_job_id_and_with_long_descriptions_is_queued(local: TestClient) -> None:
    plan = copy.deepcopy(MINIMAL)
    del plan["job_id"]
    plan["scenes"][0]["description"] = (
        "Rain streaks the rooftop's neon signs while the city hums below. " * 56
    )
    queued = local.post("/api/v1/jobs", json={"plan": plan})
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]
    assert job_id != JOB and local.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"


def test_an_unexpected_failure_is_a_json_500_without_its_traceback(services: Services) -> None:
    from fastapi.testclient import TestClient
    from starlette.applications import Starlette

    from studio.api import api_routes
    from tests.studio.api.conftest import BASE

    def broken() -> Services:
        raise RuntimeError("a bug in the studio, with /secret/paths in it")

    app = Starlette(routes=api_routes(broken, lambda: "local"))
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        failed = client.get(f"/api/v1/jobs/{JOB}")
    assert failed.status_code == 500
    assert failed.json() == {
        "error": {"code": "internal_error", "message": "the studio failed on this request; its log says why"}
    }
