"""The OpenAPI document: valid, served at /api/v1/openapi.json, and naming every route of DESIGN.md."""

from __future__ import annotations

from fastapi.testclient import TestClient
from openapi_spec_validator import validate

DESIGNED = {
    ("get", "/health"),
    ("post", "/jobs"),
    ("get", "/jobs/{job_id}"),
    ("get", "/jobs/{job_id}/events"),
    ("post", "/jobs/{job_id}/cancel"),
    ("post", "/jobs/{job_id}/references/{ref}/review"),
    ("get", "/jobs/{job_id}/manifest"),
    ("post", "/songs/{song_id}/character-image"),
    ("post", "/template-characters/{template_id}/apply"),
    ("get", "/songs/{song_id}/character"),
    ("get", "/objects/{bucket}/{key}"),
}


def test_the_openapi_document_is_valid_and_names_every_designed_route(local: TestClient) -> None:
    document = local.get("/api/v1/openapi.json").json()
    validate(document)
    routes = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert routes >= DESIGNED
    refusal = document["paths"]["/jobs/{job_id}/manifest"]["get"]["responses"]["409"]
    assert refusal["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorDocument"}
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
