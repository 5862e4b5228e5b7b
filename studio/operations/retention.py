"""Retention: references and character images expire `retention_days` (14) after their job completed.

Rules, in the order they are applied:
- A reference job expires `retention_days` after `jobs.completed_at`, once it has finished (success,
  partial, failed or cancelled). Queued, running or re-queued jobs never expire. An expired job loses every
  object under `{job_id}/` in `reference-images` (versions included), then its records: the job,
  references, versions, events, review decisions, prompt edits and plan draft.
- A song's character images (`songs/{song_id}/` in `character-images`) expire when every job linked to
  the song (`jobs.song_id`) has expired, no consistency job of the song is queued or running, and the
  song itself has not changed (upload, template, generated image) for `retention_days`. A song with no
  job expires `retention_days` after its last change. The song row stays; its keys are set to null. Rounds of
  looks count as changes of the song, and their images (`songs/{song_id}/looks/`) go with it.
- Objects go first, records after, so no record ever points at a missing object; when a deletion fails
  midway, only the records of objects that are really gone are removed, and the next run finishes the rest.
- The cost ledger is kept: it is the cost history, and it points at no object.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from studio.access.roles import Actor, require
from studio.errors import StudioError
from studio.logs import log_step
from studio.records.jobs import FINISHED
from studio.records.retention import JobState
from studio.records.schema import utcnow
from studio.records.songs import SongRow
from studio.references.gallery import forget_thumbnails
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, REFERENCE_BUCKET

log = logging.getLogger("studio.retention")

_SONG_KEYS = {
    "character_reference_key": ("character_reference_source", "character_template_id"),
    "character_pose_b_key": ("character_pose_b_source",),
    "character_generated_key": ("character_generated_at", "character_look_id"),
}


class ExpiredJob(BaseModel):
    job_id: str
    song_id: str | None
    completed_at: datetime
    expired_at: datetime
    objects: list[str] = Field(default_factory=list)
    """Keys in `reference-images` (deleted, or to delete on a dry run)."""
    records: dict[str, int] = Field(default_factory=dict)
    """Rows per table (deleted, or to delete)."""
    deleted: bool = False
    error: str | None = None


class ExpiredSong(BaseModel):
    song_id: str
    expired_at: datetime
    reason: str
    objects: list[str] = Field(default_factory=list)
    """Keys in `character-images`."""
    cleared: list[str] = Field(default_factory=list)
    """Fields of the song's record set to null."""
    deleted: bool = False
    error: str | None = None


class HeldSong(BaseModel):
    """A song with character images that are not expired, and why."""

    song_id: str
    reason: str


class RetentionReport(BaseModel):
    dry_run: bool
    now: datetime
    retention_days: int
    cutoff: datetime
    """Anything completed or changed before this moment has expired."""
    jobs: list[ExpiredJob] = Field(default_factory=list)
    songs: list[ExpiredSong] = Field(default_factory=list)
    held_songs: list[HeldSong] = Field(default_factory=list)
    objects_deleted: int = 0
    records_deleted: int = 0
    ledger_kept: bool = True
    errors: list[str] = Field(default_factory=list)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _latest(*moments: datetime | None) -> datetime | None:
    present = [_utc(m) for m in moments if m is not None]
    return max(present) if present else None


def apply_retention(
    services: Services, *, dry_run: bool, now: datetime | None = None, actor: Actor | None = None
) -> RetentionReport:
    """Delete (or, on a dry run, only list) what has expired at `now`; see the module docstring. Only admins
    delete (`actor`; without one, the local operator)."""
    if not dry_run:
        require(actor, "operate")
    now = _utc(now or utcnow())
    days = services.settings.retention_days
    cutoff = now - timedelta(days=days)
    report = RetentionReport(dry_run=dry_run, now=now, retention_days=days, cutoff=cutoff)
    jobs, songs, character_activity, open_songs = _read_state(services)
    expired_ids = {
        job.id
        for job in jobs
        if job.status in FINISHED and job.completed_at is not None and _utc(job.completed_at) <= cutoff
    }
    for song in songs:
        _judge_song(report, song, jobs, expired_ids, character_activity, open_songs, cutoff, days)
    for job in jobs:
        if job.id in expired_ids:
            assert job.completed_at is not None
            completed = _utc(job.completed_at)
            report.jobs.append(
                ExpiredJob(
                    job_id=job.id,
                    song_id=job.song_id,
                    completed_at=completed,
                    expired_at=completed + timedelta(days=days),
                )
            )
    for expired_song in report.songs:
        _expire_song(services, report, expired_song, dry_run)
    for expired_job in report.jobs:
        _expire_job(services, report, expired_job, cutoff, dry_run)
    report.errors = [e.error for e in report.jobs if e.error] + [e.error for e in report.songs if e.error]
    log_step(
        log,
        "retention dry run" if dry_run else "retention applied",
        stage="retention",
        outcome="failed" if report.errors else "ok",
        jobs=len(report.jobs),
        songs=len(report.songs),
        objects=report.objects_deleted if not dry_run else None,
        records=report.records_deleted if not dry_run else None,
    )
    return report


def _read_state(services: Services) -> tuple[list[JobState], list[SongRow], dict[str, datetime], set[str]]:
    state = services.records.retention.state()
    activity = {song_id: _utc(moment) for song_id, moment in state.character_activity.items()}
    return state.jobs, state.songs, activity, state.open_songs


def _judge_song(
    report: RetentionReport,
    song: SongRow,
    jobs: list[JobState],
    expired_ids: set[str],
    character_activity: dict[str, datetime],
    open_songs: set[str],
    cutoff: datetime,
    days: int,
) -> None:
    """Decide whether a song's character images have expired; songs without images are left alone."""
    if not any(getattr(song, key) for key in _SONG_KEYS):
        return
    linked = [job for job in jobs if job.song_id == song.id]
    live = [job for job in linked if job.id not in expired_ids]
    if live:
        job = live[0]
        state = "has not finished" if job.completed_at is None or job.status not in FINISHED else "is recent"
        more = f" (and {len(live) - 1} more)" if len(live) > 1 else ""
        report.held_songs.append(HeldSong(song_id=song.id, reason=f"job {job.id} {state}{more}"))
        return
    if song.id in open_songs:
        reason = "a consistency job or a round of looks is queued or running"
        report.held_songs.append(HeldSong(song_id=song.id, reason=reason))
        return
    changed = _latest(song.updated_at, song.created_at, song.character_generated_at)
    last = _latest(changed, character_activity.get(song.id), *(job.completed_at for job in linked))
    if last is not None and last > cutoff:
        report.held_songs.append(
            HeldSong(song_id=song.id, reason=f"changed {last:%Y-%m-%d %H:%M} UTC, within {days} days")
        )
        return
    reason = (
        f"every linked job ({len(linked)}) expired and the song is unchanged for {days} days"
        if linked
        else f"no job uses the song and it is unchanged for {days} days"
    )
    expired_at = (last or cutoff) + timedelta(days=days)
    report.songs.append(ExpiredSong(song_id=song.id, expired_at=expired_at, reason=reason))


def _delete_objects(
    services: Services, bucket: str, prefix: str, keys: list[str]
) -> tuple[set[str], str | None]:
    """Delete `keys`; the keys still present afterwards (all of them when that cannot be known), and why."""
    if not keys:
        return set(), None
    try:
        services.storage.delete(bucket, keys)
        forget_thumbnails(services, bucket, keys)
        return set(), None
    except StudioError as exc:
        error = f"deleting {len(keys)} objects under {bucket}/{prefix} failed: {exc}"
    try:
        return set(services.storage.list(bucket, prefix)) & set(keys), error
    except StudioError:
        return set(keys), error


def _expire_job(
    services: Services, report: RetentionReport, job: ExpiredJob, cutoff: datetime, dry_run: bool
) -> None:
    prefix = f"{job.job_id}/"
    try:
        job.objects = services.storage.list(REFERENCE_BUCKET, prefix)
    except StudioError as exc:
        job.error = f"listing {REFERENCE_BUCKET}/{prefix} failed: {exc}"
        return
    job.records = services.records.retention.count_job_records(job.job_id)
    if dry_run:
        return
    remaining, job.error = _delete_objects(services, REFERENCE_BUCKET, prefix, job.objects)
    report.objects_deleted += len(job.objects) - len(remaining)
    if remaining:
        removed = services.records.retention.delete_missing_references(job.job_id, remaining)
    else:
        deleted = services.records.retention.delete_job(job.job_id, cutoff)
        if deleted is None:
            job.error = f"job {job.job_id} was resumed during retention; its records are kept"
            return
        removed = deleted
    report.records_deleted += removed
    job.deleted = not remaining
    log_step(
        log,
        "expired references deleted" if job.deleted else "expired references partly deleted",
        job_id=job.job_id,
        stage="retention",
        outcome="deleted" if job.deleted else "partial",
        objects=len(job.objects) - len(remaining),
        records=removed,
    )


def _expire_song(services: Services, report: RetentionReport, song: ExpiredSong, dry_run: bool) -> None:
    prefix = f"songs/{song.song_id}/"
    try:
        song.objects = services.storage.list(CHARACTER_BUCKET, prefix)
    except StudioError as exc:
        song.error = f"listing {CHARACTER_BUCKET}/{prefix} failed: {exc}"
        return
    row = services.records.songs.song(song.song_id)
    keys = {name: getattr(row, name) for name in _SONG_KEYS} if row is not None else {}
    song.cleared = [name for name, key in keys.items() if key]
    if dry_run:
        return
    remaining, song.error = _delete_objects(services, CHARACTER_BUCKET, prefix, song.objects)
    report.objects_deleted += len(song.objects) - len(remaining)
    cleared = [name for name in song.cleared if keys[name] not in remaining]
    values: dict[str, Any] = {}
    for name in cleared:
        values[name] = None
        values.update(dict.fromkeys(_SONG_KEYS[name]))
    if "character_reference_key" in cleared:
        values["character_interrogation_json"] = None  # it described the deleted image
    if values:
        services.records.retention.clear_song(song.song_id, values)
    services.records.retention.forget_looks(song.song_id, remaining)
    song.cleared = cleared
    song.deleted = not remaining
    log_step(
        log,
        "expired character images deleted",
        song_id=song.song_id,
        stage="retention",
        outcome="deleted" if song.deleted else "partial",
        objects=len(song.objects) - len(remaining),
    )
