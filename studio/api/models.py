"""The API's request and answer documents (the CLI's `--json` shapes where they exist: ReferenceImages,
ExportManifest, CharacterUpload, TemplateApplied, CharacterImages, ReviewDecision)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from studio.api.paths import API_PREFIX
from studio.references.result import ReferenceImages


class JobSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: dict[str, Any]
    """A scene plan as the planner writes it (its `job_id` is optional: one is given)."""
    song_id: str | None = None
    duration_seconds: float | None = None
    concurrency: int | None = None


class JobLinks(BaseModel):
    self: str
    events: str
    manifest: str
    cancel: str

    @classmethod
    def of(cls, job_id: str) -> JobLinks:
        base = f"{API_PREFIX}/jobs/{job_id}"
        return cls(self=base, events=f"{base}/events", manifest=f"{base}/manifest", cancel=f"{base}/cancel")


class JobQueued(BaseModel):
    job_id: str
    status: str
    links: JobLinks


class JobState(BaseModel):
    job_id: str
    status: str
    """queued, running, then success, partial, failed or cancelled."""
    song_id: str | None
    total: int
    """References the plan asks for."""
    counts: dict[str, int]
    """References by generation status (queued, generating, stored, failed, ...)."""
    cancel_requested: bool
    result: ReferenceImages | None
    """The ReferenceImages document once the job has ended (None while it runs, or when it fell back)."""
    links: JobLinks


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: str | None = Field(None, description="why the image is rejected (required to reject)")


class TemplateApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    song_id: str


class Health(BaseModel):
    status: Literal["ok"]


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    """not_found, invalid_input, unauthenticated, forbidden, local_only, not_approved, offline_preview, ..."""
    message: str
    field: str | None = None
    problems: list[dict[str, str]] | None = None
    """Every problem of the input, each `{"field", "problem"}` (422)."""
    pending: list[str] | None = None
    """The references still pending review (409 `not_approved`)."""


class ErrorDocument(BaseModel):
    error: ErrorBody


def refusals(**described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route makes: `{"403": "why"}` and so on."""
    return {
        int(status.removeprefix("r")): {"model": ErrorDocument, "description": why}
        for status, why in described.items()
    }


ASKED_BY_KEY = refusals(
    r401="team mode: no, an unknown or a revoked API key",
    r403="the key's role may not; or local mode: the request came through a proxy or by another host name",
    r422="invalid input: `field` and every problem in `problems`",
)
