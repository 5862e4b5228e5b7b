"""The manifest clip generation reads: the approved version of every reference, with fresh signed URLs, and
the song's character. Refused while any reference is not approved, and for offline previews unless asked
for: a clip generator must never animate placeholders by accident."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.characters.priority import CharacterImages, log_clip_choice, resolve
from studio.errors import StudioError
from studio.logs import log_step
from studio.records.reviews import ReviewStatus
from studio.review.gate import ReferenceVersion, review_board
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET, ReferenceKind

PREVIEW_PROVIDERS = ("local",)
"""Image providers whose pictures are offline previews (the deterministic local renderer)."""
HOW_TO_RENDER = (
    "set REPLICATE_API_TOKEN (and STUDIO_IMAGE_PROVIDER=auto or replicate) so SDXL renders the references, "
    "regenerate them and have them approved; or export the previews on purpose (`export --allow-preview`, "
    "`?allow_preview=true` on the API)"
)
log = logging.getLogger("studio.review")


class NotApproved(StudioError):
    """The export was asked for while some references are not approved; `refs` maps each to its status."""

    def __init__(self, job_id: str, refs: dict[str, ReviewStatus]) -> None:
        listed = ", ".join(f"{ref} ({status})" for ref, status in refs.items())
        super().__init__(f"job {job_id}: not every reference is approved: {listed}")
        self.job_id = job_id
        self.refs = refs


class PreviewsRefused(StudioError):
    """Approved references that are offline previews, exported without `allow_preview`."""

    def __init__(self, job_id: str, refs: list[str]) -> None:
        super().__init__(
            f"job {job_id}: {len(refs)} approved references are offline previews, not real renders "
            f"({', '.join(refs)}): {HOW_TO_RENDER}"
        )
        self.job_id = job_id
        self.refs = refs


class ExportedReference(BaseModel):
    ref: str
    kind: ReferenceKind
    subject_id: str
    version: int
    url: str
    storage_key: str
    prompt: str
    negative_prompt: str
    seed: int
    provider: str
    preview: bool
    """True for an offline preview of the local renderer: a placeholder, not a render to animate."""
    model_version: str
    parameters: dict[str, Any]
    approved_by: str
    approved_at: datetime


class ExportManifest(BaseModel):
    """What clip generation needs: the approved version of every reference and the song's character."""

    job_id: str
    song_id: str | None
    references: list[ExportedReference]
    character: CharacterImages | None
    exported_by: str | None = None
    """Who asked for the manifest: a signed-in e-mail, the local operator's name, or `key:<name>`."""


def is_preview(version: ReferenceVersion) -> bool:
    return version.provider in PREVIEW_PROVIDERS


def export_manifest(
    services: Services, job_id: str, *, actor: Actor | None = None, allow_preview: bool = False
) -> ExportManifest:
    """The approved version of every reference with fresh signed URLs; NotApproved while any is not,
    PreviewsRefused when some are offline previews and `allow_preview` is not given.

    Creators and reviewers export (`actor`; without one, the local operator), and the manifest names them."""
    from studio.storage.intact import require_character_intact, require_references_intact

    who = require(actor, "export").who
    board = review_board(services, job_id)
    if board.unapproved:
        raise NotApproved(job_id, board.unapproved)
    latest = {reference.ref: reference.versions[-1] for reference in board.references}
    previews = [ref for ref, version in latest.items() if is_preview(version)]
    if previews and not allow_preview:
        raise PreviewsRefused(job_id, previews)
    require_references_intact(services, {ref: (v.storage_key, v.version) for ref, v in latest.items()})
    ttl = services.settings.signed_url_ttl
    exported = []
    for reference in board.references:
        version = latest[reference.ref]
        approval = version.decisions[-1]
        exported.append(
            ExportedReference(
                ref=reference.ref,
                kind=reference.kind,
                subject_id=reference.subject_id,
                version=version.version,
                url=services.storage.signed_url(REFERENCE_BUCKET, version.storage_key, ttl),
                storage_key=version.storage_key,
                prompt=version.prompt,
                negative_prompt=version.negative_prompt,
                seed=version.seed,
                provider=version.provider,
                preview=is_preview(version),
                model_version=version.model_version,
                parameters=version.parameters,
                approved_by=approval.reviewer,
                approved_at=approval.created_at,
            )
        )
    character = resolve(services, board.song_id) if board.song_id else None
    if character is not None:
        require_character_intact(services, [(image.key, image.source) for image in character.images])
        log_clip_choice(character, job_id)
    log_step(log, "manifest exported", job_id=job_id, outcome="exported", exported_by=who)
    return ExportManifest(
        job_id=job_id, song_id=board.song_id, references=exported, character=character, exported_by=who
    )
