"""Who may call the API: team mode asks for a key (401 without, 403 for a role that may not) and the audit
trail names the key; local mode answers this machine only, refusing any proxy header."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from studio.access.api_keys import create_key, revoke_key
from studio.review.gate import review_board
from studio.services import Services
from tests.studio.access.test_deployment import PROXY_HEADERS
from tests.studio.api.conftest import JOB, MINIMAL, run_queued


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_team_mode_refuses_a_missing_unknown_or_revoked_key(team: TestClient, services: Services) -> None:
    missing = team.get(f"/api/v1/jobs/{JOB}")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert "api-key create" in missing.json()["error"]["message"]
    assert team.get(f"/api/v1/jobs/{JOB}", headers=bearer("rs_guessed")).status_code == 401
    key = create_key(services.records, "old-bot", "creator").key
    revoke_key(services.records, "old-bot")
    assert team.post("/api/v1/jobs", json={"plan": MINIMAL}, headers=bearer(key)).status_code == 401
    assert team.get("/api/v1/health").json() == {"status": "ok"}, "liveness asks for no key"


def test_roles_decide_and_the_audit_trail_names_the_key(team: TestClient, services: Services) -> None:
    creator = bearer(create_key(services.records, "planner", "creator").key)
    reviewer = bearer(create_key(services.records, "qa-desk", "reviewer").key)
    refused = team.post("/api/v1/jobs", json={"plan": MINIMAL}, headers=reviewer)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert team.post("/api/v1/jobs", json={"plan": MINIMAL}, headers=creator).status_code == 202
    run_queued(services)

    review = f"/api/v1/jobs/{JOB}/references/scene_rooftop/review"
    by_creator = team.post(review, json={"decision": "approve"}, headers=creator)
    assert by_creator.status_code == 403 and "key:planner" in by_creator.json()["error"]["message"]
    by_reviewer = team.post(review, json={"decision": "reject", "reason": "too dark"}, headers=reviewer)
    assert by_reviewer.status_code == 200, by_reviewer.text
    decision = review_board(services, JOB).reference("scene_rooftop").versions[-1].decisions[-1]
    assert (decision.reviewer, decision.channel, decision.reason) == ("key:qa-desk", "api", "too dark")


@pytest.mark.parametrize("header", PROXY_HEADERS)
def test_local_mode_refuses_any_proxy_header(local: TestClient, header: str) -> None:
    refused = local.get(f"/api/v1/jobs/{JOB}", headers={header: "203.0.113.9"})
    assert refused.status_code == 403
    assert (
        refused.json()["error"]["code"] == "local_only"
        and header.lower() in refused.json()["error"]["message"]
    )


def test_local_mode_refuses_another_host_name(services: Services) -> None:
    from tests.studio.api.conftest import client_for

    with client_for(services, "local") as client:
        refused = client.get("/api/v1/jobs/x", headers={"Host": "rebound.attacker.test"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "local_only"
