"""What the Generate page shows of a job: its progress board and thumbnails of the stored references.

Thumbnails (at most 256 px, WebP) are cached on disk under `$STUDIO_DATA_DIR/thumbnails/`, keyed by the
storage key and the content, never in the storage bucket, so a 32-image gallery ships well under 3 MB
and the full PNG is only read when a creator downloads it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from PIL import Image

from studio.access.roles import Actor
from studio.errors import InvalidInput, NotFound
from studio.generation.png_parameters import read_parameters
from studio.money import from_nanos
from studio.plans.scene_plan import ScenePlan
from studio.records.jobs import ACTIVE, Job, JobStatus
from studio.records.references import UNFINISHED, ReferenceStatus
from studio.records.schema import ReferenceRow
from studio.references.outcome import CANCELLED_BY_YOU
from studio.references.result import ReferenceImages, run_summary
from studio.services import Services
from studio.storage.keys import REFERENCE_BUCKET, ReferenceKind, reference_name
from studio.storage.private_files import private_dir, write_private

THUMBNAIL_PX = 256
THUMBNAIL_QUALITY = 78

_lock = threading.Lock()


@dataclass(frozen=True)
class Thumbnail:
    """A small WebP of a stored image, with the image's embedded `parameters` text when it has one."""

    data: bytes
    width: int
    height: int
    parameters: str | None
    mime: str = "image/webp"


@dataclass(frozen=True)
class BoardReference:
    """One reference of a job as the progress board shows it."""

    ref: str
    kind: str
    subject_id: str
    status: str
    attempts: int
    error: str | None
    cost: Decimal
    failure_reason: str | None
    generation_time: float
    seed: int | None
    storage_key: str
    content_id: str
    """Changes whenever the stored image does: the parameters hash and the version."""


@dataclass(frozen=True)
class JobProgress:
    """A job's state for the board: status, counts by reference status, money."""

    job_id: str
    status: str
    total: int
    counts: dict[str, int]
    references: list[BoardReference]
    budget: Decimal
    spent: Decimal
    failure_reason: str | None
    cancel_requested: bool
    summary: str | None = None
    """What the last run did (`4 generated · 2 reused · $0.02 this run`), once it ended."""
    reused: int = 0
    """Of the stored ones, how many the last run reused instead of making, once it ended."""
    rate_limit_until: float | None = None
    """Epoch seconds until which the run's images wait for the provider's rate limit, while it runs."""

    def rate_limit_wait(self, now: float | None = None) -> float:
        """Seconds the running job still waits for the provider's rate limit (0: not waiting)."""
        if not self.active or self.rate_limit_until is None:
            return 0.0
        return max(0.0, self.rate_limit_until - (time.time() if now is None else now))

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def stored(self) -> int:
        return self.counts.get(ReferenceStatus.STORED, 0)

    @property
    def failed(self) -> int:
        return self.counts.get(ReferenceStatus.FAILED, 0)

    @property
    def cancelled(self) -> int:
        return self.counts.get(ReferenceStatus.CANCELLED, 0)

    @property
    def in_flight(self) -> int:
        """Calls being made right now (a reference is `generating` only while its call runs)."""
        return self.counts.get(ReferenceStatus.GENERATING, 0)


def _status_of(row: ReferenceRow) -> BoardReference:
    return BoardReference(
        ref=row.ref,
        kind=row.kind,
        subject_id=row.subject_id,
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        cost=from_nanos(row.cost_nanos),
        failure_reason=row.failure_reason,
        generation_time=row.generation_time,
        seed=row.seed,
        storage_key=row.storage_key,
        content_id=f"{row.params_hash}.v{getattr(row, 'version', 0)}",
    )


def job_progress(services: Services, job_id: str) -> JobProgress | None:
    """The job and its references, or None when no job has this id yet."""
    job: Job | None = services.records.jobs.get(job_id)
    if job is None:
        return None
    rows = [_status_of(row) for row in services.records.references.of_job(job_id).values()]
    plan = ScenePlan.model_validate_json(job.plan_json)
    if job.status == JobStatus.CANCELLED:
        rows = _cancelled(plan, rows)
    total = max(len(plan.scenes) + len(plan.characters), len(rows))
    counts = Counter(row.status for row in rows)
    counts["waiting"] = total - len(rows)
    return JobProgress(
        job_id=job_id,
        status=job.status,
        total=total,
        counts=dict(counts),
        references=rows,
        budget=from_nanos(job.budget_nanos),
        spent=from_nanos(job.spent_nanos),
        failure_reason=job.failure_reason,
        cancel_requested=job.cancel_requested,
        summary=_summary(job),
        reused=_reused(job),
        rate_limit_until=_rate_limit_until(services, job),
    )


def _rate_limit_until(services: Services, job: Job) -> float | None:
    if job.status not in ACTIVE:
        return None
    latest = services.records.events.latest(job.id, "reference_generation_waiting")
    if latest is None:
        return None
    until = json.loads(latest.payload_json).get("until")
    return float(until) if isinstance(until, int | float) else None


def _cancelled(plan: ScenePlan, rows: list[BoardReference]) -> list[BoardReference]:
    """A cancelled job has nothing queued or in flight: every reference it did not finish (one it never
    started, even one the job never got to list before the cancel) is cancelled by you."""
    ended = [
        replace(row, status=ReferenceStatus.CANCELLED, error=CANCELLED_BY_YOU)
        if row.status in UNFINISHED
        else row
        for row in rows
    ]
    listed = {row.ref for row in rows}
    subjects: list[tuple[ReferenceKind, str]] = [
        *(("scene", scene.id) for scene in plan.scenes),
        *(("character", character.id) for character in plan.characters),
    ]
    never = [
        BoardReference(
            ref=reference_name(kind, subject),
            kind=kind,
            subject_id=subject,
            status=ReferenceStatus.CANCELLED,
            attempts=0,
            error=CANCELLED_BY_YOU,
            cost=Decimal(0),
            failure_reason=None,
            generation_time=0.0,
            seed=None,
            storage_key="",
            content_id="",
        )
        for kind, subject in subjects
        if reference_name(kind, subject) not in listed
    ]
    return ended + never


def _reused(job: Job) -> int:
    if job.status in ACTIVE or not job.result_json:
        return 0
    result = ReferenceImages.model_validate_json(job.result_json)
    return sum(1 for r in [*result.scene_references, *result.character_references] if r.reused)


def _summary(job: Job) -> str | None:
    if job.status in ACTIVE or not job.result_json:
        return None
    return run_summary(ReferenceImages.model_validate_json(job.result_json))


def _digest(text: str | bytes, length: int = 24) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:length]


def thumbnail_dir(services: Services) -> Path:
    return Path(services.settings.data_dir) / "thumbnails"


def forget_thumbnails(services: Services, bucket: str, keys: list[str]) -> None:
    """Drop cached thumbnails of objects that are gone (retention), so no copy outlives its image."""
    for key in keys:
        shutil.rmtree(thumbnail_dir(services) / _digest(f"{bucket}/{key}"), ignore_errors=True)


def render_thumbnail(data: bytes, size: int = THUMBNAIL_PX) -> tuple[bytes, int, int]:
    """A WebP at most `size` px on its longer side, aspect kept."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (size, size))
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        converted = image.convert("RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB")
    out = io.BytesIO()
    converted.save(out, format="WEBP", quality=THUMBNAIL_QUALITY, method=4)
    return out.getvalue(), converted.width, converted.height


def thumbnail(
    services: Services,
    key: str,
    *,
    bucket: str = REFERENCE_BUCKET,
    content_id: str | None = None,
    size: int = THUMBNAIL_PX,
) -> Thumbnail:
    """The cached thumbnail of a stored image, made on first use.

    `content_id` is anything that changes when the bytes do (the records' parameters hash and version);
    without it the stored bytes are read and hashed. Raises NotFound when nothing is stored at `key`.
    """
    folder = thumbnail_dir(services) / _digest(f"{bucket}/{key}")
    data: bytes | None = None
    if content_id is None:
        data = services.storage.get(bucket, key)
        content_id = _digest(data, 40)
    stem = f"{_digest(f'{content_id}:{size}')}"
    image_path, text_path = folder / f"{stem}.webp", folder / f"{stem}.txt"
    if image_path.exists():
        cached = image_path.read_bytes()
        with Image.open(io.BytesIO(cached)) as image:
            width, height = image.size
        text = text_path.read_text("utf-8") if text_path.exists() else None
        return Thumbnail(cached, width, height, text)
    if data is None:
        data = services.storage.get(bucket, key)
    small, width, height = render_thumbnail(data, size)
    try:
        parameters = read_parameters(data)
    except InvalidInput:
        parameters = None
    with _lock:
        private_dir(folder)
        for old in folder.iterdir():
            if old.stem != stem and not old.name.startswith("."):
                old.unlink(missing_ok=True)
        if parameters is not None:
            write_private(text_path, parameters.encode("utf-8"))
        write_private(image_path, small)
    return Thumbnail(small, width, height, parameters)


def thumbnails(
    services: Services, wanted: list[tuple[str, str | None]], bucket: str = REFERENCE_BUCKET
) -> dict[str, Thumbnail | None]:
    """Thumbnails of many stored images by key (None where the image is gone), made in parallel.

    Decoding and encoding release the GIL, so a first view of a 32-image page uses every core.
    """

    def one(item: tuple[str, str | None]) -> Thumbnail | None:
        try:
            return thumbnail(services, item[0], bucket=bucket, content_id=item[1])
        except NotFound:
            return None

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        return dict(zip((key for key, _ in wanted), pool.map(one, wanted), strict=True))


def full_image(services: Services, key: str, bucket: str = REFERENCE_BUCKET) -> bytes:
    """The stored bytes at full size, for a download."""
    if not services.storage.exists(bucket, key):
        raise NotFound(f"{bucket}/{key}")
    return services.storage.get(bucket, key)


def retry_failed(services: Services, job_id: str, *, actor: Actor | None = None) -> str:
    """Queue the job again with its own plan and edits: stored references are reused at $0, only the
    failed, cancelled or missing ones are generated (by a creator: `actor`, else the local operator)."""
    from studio.references import jobs

    job = services.records.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    plan = ScenePlan.model_validate_json(job.plan_json)
    return jobs.submit(
        services,
        plan,
        job.duration_seconds,
        jobs.job_overrides(services, job_id),
        job.concurrency,
        actor=actor,
    )
