"""Retention on both storage backends: what expires, what is kept, and records that never outlive objects."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from studio.characters.looks import LooksRequest, list_looks, pick_look, queue_looks
from studio.characters.songs import apply_template, upload_character_image
from studio.errors import StudioError
from studio.operations.retention import apply_retention
from studio.plans.scene_plan import ScenePlan, load_plan
from studio.records.looks import LookRow
from studio.records.reviews import ReviewRow
from studio.records.schema import EventRow, JobRow, LedgerRow, ReferenceRow, ReferenceVersionRow, utcnow
from studio.records.songs import SongRow
from studio.records.work import WorkRow
from studio.references.gallery import thumbnail, thumbnail_dir
from studio.references.jobs import generate_references
from studio.references.planning import ReferenceOverride
from studio.services import Services, build_services
from studio.settings import Settings
from studio.storage.base import Storage
from studio.storage.keys import CHARACTER_BUCKET, REFERENCE_BUCKET
from studio.work.runner import drain
from tests.conftest import PLANS_DIR
from tests.studio.characters.samples import png
from tests.studio.work.leases import work_of

DAY = timedelta(days=1)


@pytest.fixture(params=["local", "supabase"])
def studio(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Services]:
    """Services on local storage, or on Supabase Storage through the test server."""
    extra: dict[str, object] = {}
    if request.param == "supabase":
        server = request.getfixturevalue("supabase_server")
        extra = {"supabase_url": server.url, "supabase_key": server.key}
    services = build_services(Settings(data_dir=data_dir, retry_backoff=0.01, **extra))  # type: ignore[arg-type]
    assert services.storage.name == request.param
    yield services
    services.close()
    close = getattr(services.storage, "close", None)
    if close is not None:
        close()


def plan_for(job_id: str | None = None) -> ScenePlan:
    plan = load_plan(PLANS_DIR / "minimal.json")
    return plan.model_copy(update={"job_id": uuid.UUID(job_id) if job_id else uuid.uuid4()})


def generate(services: Services, plan: ScenePlan, **kwargs: object) -> str:
    result = asyncio.run(generate_references(services, plan.job_id, plan, **kwargs))  # type: ignore[arg-type]
    assert result is not None
    return str(plan.job_id)


def set_job(services: Services, job_id: str, status: str | None = None, **values: object) -> None:
    """Change a job's columns; `status` as people see it (queued or running: its work's)."""
    work_id = work_of(services, job_id)
    with services.records.db.write() as s:
        if status in ("queued", "running"):
            s.execute(update(WorkRow).where(WorkRow.id == work_id).values(status=status))
            values["outcome"] = None
        elif status is not None:
            s.execute(update(WorkRow).where(WorkRow.id == work_id).values(status="done"))
            values["outcome"] = status
        s.execute(update(JobRow).where(JobRow.id == job_id).values(**values))


def job_with_versions(services: Services) -> str:
    """A finished job whose character reference has two versions (one kept under versions/), and a review."""
    plan = plan_for()
    job_id = generate(services, plan)
    generate(services, plan, overrides={"character_singer": ReferenceOverride(seed=7, note="new seed")})
    services.records.reviews.add(job_id, "scene_rooftop", 1, "approved", None, "qa")
    return job_id


def rows(services: Services, table: type, job_id: str) -> int:
    with services.records.db.write() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(table.job_id == job_id)) or 0)


def assert_consistent(services: Services) -> None:
    """No record points at a missing object."""
    storage = services.storage
    with services.records.db.write() as s:
        references = [r.storage_key for r in s.scalars(select(ReferenceRow)) if r.status == "stored"]
        versions = [v.storage_key for v in s.scalars(select(ReferenceVersionRow))]
        songs = list(s.scalars(select(SongRow)))
        looks = [look.storage_key for look in s.scalars(select(LookRow)) if look.storage_key]
    for key in references + versions:
        assert storage.exists(REFERENCE_BUCKET, key), key
    for key in looks:
        assert storage.exists(CHARACTER_BUCKET, key), key
    for song in songs:
        for key in (song.character_reference_key, song.character_pose_b_key, song.character_generated_key):
            assert key is None or storage.exists(CHARACTER_BUCKET, key), key


def test_expired_job_loses_objects_and_records_but_the_ledger_stays(studio: Services) -> None:
    job_id = job_with_versions(studio)
    objects = studio.storage.list(REFERENCE_BUCKET, f"{job_id}/")
    assert f"{job_id}/versions/character_singer_v1.png" in objects and len(objects) == 3
    assert len(studio.records.objects.checks(REFERENCE_BUCKET, objects)) == 3
    ledger = rows(studio, LedgerRow, job_id)
    assert ledger > 0
    thumbnail(studio, f"{job_id}/scene_rooftop.png")  # a page showed it: a cached copy exists
    assert any(thumbnail_dir(studio).iterdir())
    report = apply_retention(studio, dry_run=False, now=utcnow() + 15 * DAY)
    assert not any(thumbnail_dir(studio).iterdir()), "no cached thumbnail outlives its image"
    [expired] = report.jobs
    assert expired.job_id == job_id and expired.deleted and expired.error is None
    assert sorted(expired.objects) == objects
    assert expired.records["reference_versions"] == 3 and expired.records["reviews"] == 1
    assert studio.storage.list(REFERENCE_BUCKET, f"{job_id}/") == []
    assert studio.records.objects.checks(REFERENCE_BUCKET, objects) == {}, "no check outlives its object"
    assert studio.records.jobs.get(job_id) is None
    for table in (ReferenceRow, ReferenceVersionRow, EventRow, ReviewRow):
        assert rows(studio, table, job_id) == 0, table.__tablename__
    assert rows(studio, LedgerRow, job_id) == ledger, "the ledger is the cost history"
    assert report.objects_deleted == 3 and report.records_deleted == sum(expired.records.values())
    assert report.ledger_kept and not report.errors
    assert_consistent(studio)


def test_dry_run_lists_the_same_and_deletes_nothing(studio: Services) -> None:
    job_id = job_with_versions(studio)
    later = utcnow() + 15 * DAY
    before = studio.storage.list(REFERENCE_BUCKET)
    dry = apply_retention(studio, dry_run=True, now=later)
    assert [j.job_id for j in dry.jobs] == [job_id] and dry.dry_run
    assert sorted(dry.jobs[0].objects) == before and not dry.jobs[0].deleted
    assert dry.objects_deleted == 0 and dry.records_deleted == 0
    assert studio.storage.list(REFERENCE_BUCKET) == before
    assert studio.records.jobs.get(job_id) is not None and rows(studio, ReferenceVersionRow, job_id) == 3
    real = apply_retention(studio, dry_run=False, now=later)
    assert real.jobs[0].objects == dry.jobs[0].objects and real.jobs[0].records == dry.jobs[0].records


def test_only_finished_jobs_past_retention_expire(studio: Services) -> None:
    now = utcnow()
    old, recent, running, requeued = (generate(studio, plan_for()) for _ in range(4))
    set_job(studio, old, completed_at=now - 14 * DAY - timedelta(seconds=1))
    set_job(studio, recent, completed_at=now - 13 * DAY)
    set_job(studio, running, status="running", completed_at=None)
    set_job(studio, requeued, status="queued", completed_at=now - 40 * DAY)
    report = apply_retention(studio, dry_run=False, now=now)
    assert [j.job_id for j in report.jobs] == [old]
    for kept in (recent, running, requeued):
        assert studio.records.jobs.get(kept) is not None
        assert len(studio.storage.list(REFERENCE_BUCKET, f"{kept}/")) == 2
    assert_consistent(studio)


def test_retention_days_is_configurable(studio: Services) -> None:
    job_id = generate(studio, plan_for())
    short = dataclasses.replace(studio, settings=studio.settings.model_copy(update={"retention_days": 2}))
    assert apply_retention(studio, dry_run=True, now=utcnow() + 3 * DAY).jobs == []
    assert [j.job_id for j in apply_retention(short, dry_run=True, now=utcnow() + 3 * DAY).jobs] == [job_id]


def song_keys(services: Services, song_id: str) -> tuple[str | None, str | None, str | None]:
    song = services.records.songs.song(song_id)
    assert song is not None
    return song.character_reference_key, song.character_pose_b_key, song.character_generated_key


def test_character_images_wait_for_every_linked_job(studio: Services) -> None:
    now = utcnow()
    apply_template(studio, "song-1", "character-1")
    first, second = generate(studio, plan_for()), generate(studio, plan_for())
    for job_id in (first, second):
        set_job(studio, job_id, song_id="song-1")
    with studio.records.db.write() as s:
        s.execute(update(SongRow).values(updated_at=now - 30 * DAY, created_at=now - 30 * DAY))
    set_job(studio, first, completed_at=now - 20 * DAY)
    report = apply_retention(studio, dry_run=False, now=now)
    assert [j.job_id for j in report.jobs] == [first] and report.songs == []
    [held] = report.held_songs
    assert held.song_id == "song-1" and second in held.reason
    assert len(studio.storage.list(CHARACTER_BUCKET, "songs/song-1/")) == 2
    assert all(song_keys(studio, "song-1")[:2])

    set_job(studio, second, completed_at=now - 15 * DAY)
    report = apply_retention(studio, dry_run=False, now=now)
    [song] = report.songs
    assert song.song_id == "song-1" and song.deleted and "every linked job" in song.reason
    assert sorted(song.cleared) == ["character_pose_b_key", "character_reference_key"]
    assert studio.storage.list(CHARACTER_BUCKET, "songs/song-1/") == []
    assert song_keys(studio, "song-1") == (None, None, None)
    row = studio.records.songs.song("song-1")
    assert row is not None and row.character_template_id is None and row.character_reference_source is None
    assert_consistent(studio)


def test_songs_without_jobs_expire_after_their_last_change(studio: Services) -> None:
    now = utcnow()
    apply_template(studio, "old-song", "character-2")
    apply_template(studio, "new-song", "character-3")
    upload_character_image(studio, "queued-song", png(), "A")  # queues a consistency job
    with studio.records.db.write() as s:
        s.execute(update(SongRow).values(updated_at=now - 15 * DAY, created_at=now - 15 * DAY))
        s.execute(update(SongRow).where(SongRow.id == "new-song").values(updated_at=now - DAY))
    report = apply_retention(studio, dry_run=False, now=now)
    assert [s.song_id for s in report.songs] == ["old-song"]
    held = {h.song_id: h.reason for h in report.held_songs}
    assert "within 14 days" in held["new-song"] and "consistency job" in held["queued-song"]
    assert studio.storage.list(CHARACTER_BUCKET, "songs/old-song/") == []
    assert len(studio.storage.list(CHARACTER_BUCKET, "songs/new-song/")) == 2
    assert studio.storage.list(CHARACTER_BUCKET, "songs/queued-song/")
    assert_consistent(studio)


@dataclasses.dataclass
class FailingDelete:
    """Storage that deletes only the first `allowed` keys of a batch, then fails like a dropped connection."""

    inner: Storage
    allowed: int
    name: str = "failing"

    def __getattr__(self, attribute: str) -> object:
        return getattr(self.inner, attribute)

    def delete(self, bucket: str, keys: list[str]) -> None:
        self.inner.delete(bucket, keys[: self.allowed])
        raise StudioError("connection dropped mid-delete")


def test_a_failure_midway_keeps_the_records_of_objects_still_present(studio: Services) -> None:
    job_id = job_with_versions(studio)
    later = utcnow() + 15 * DAY
    keys = sorted(studio.storage.list(REFERENCE_BUCKET, f"{job_id}/"))
    flaky = dataclasses.replace(studio, storage=FailingDelete(studio.storage, allowed=1))  # type: ignore[arg-type]
    report = apply_retention(flaky, dry_run=False, now=later)
    [job] = report.jobs
    assert not job.deleted and job.error and "connection dropped" in job.error
    assert report.errors == [job.error] and report.objects_deleted == 1
    remaining = studio.storage.list(REFERENCE_BUCKET, f"{job_id}/")
    assert len(remaining) == len(keys) - 1
    assert studio.records.jobs.get(job_id) is not None, "the job stays while it has objects"
    with studio.records.db.write() as s:
        recorded = {v.storage_key for v in s.scalars(select(ReferenceVersionRow))}
    assert recorded == set(remaining), "records exactly for the objects still present"
    assert_consistent(studio)

    report = apply_retention(studio, dry_run=False, now=later)
    assert report.jobs[0].deleted and studio.records.jobs.get(job_id) is None
    assert studio.storage.list(REFERENCE_BUCKET, f"{job_id}/") == []


def test_a_resumed_job_keeps_its_records(studio: Services) -> None:
    job_id = generate(studio, plan_for())
    now = utcnow() + 15 * DAY

    class ResumeDuringDelete(FailingDelete):
        def delete(self, bucket: str, keys: list[str]) -> None:
            self.inner.delete(bucket, keys)
            set_job(studio, job_id, status="running", completed_at=None)

    report = apply_retention(
        dataclasses.replace(studio, storage=ResumeDuringDelete(studio.storage, 0)),  # type: ignore[arg-type]
        dry_run=False,
        now=now,
    )
    assert report.jobs[0].error and "resumed" in report.jobs[0].error
    assert studio.records.jobs.get(job_id) is not None


def test_nothing_expired_on_an_empty_studio(studio: Services) -> None:
    report = apply_retention(studio, dry_run=False, now=datetime.now().astimezone())
    assert report.jobs == [] and report.songs == [] and report.errors == []


def test_a_songs_looks_expire_with_it_and_an_open_round_holds_it(studio: Services) -> None:
    now = utcnow()
    apply_template(studio, "old-song", "character-2")
    queue_looks(studio, "old-song", LooksRequest(count=2))
    asyncio.run(drain(studio))
    pick_look(studio, "old-song", "r1-2")
    apply_template(studio, "busy-song", "character-1")
    queue_looks(studio, "busy-song", LooksRequest(count=1))  # queued, not run
    old = now - 15 * DAY
    with studio.records.db.write() as s:
        s.execute(update(SongRow).values(updated_at=old, created_at=old, character_generated_at=old))
    report = apply_retention(studio, dry_run=False, now=now)
    assert [s.song_id for s in report.songs] == ["old-song"]
    assert "round of looks" in {h.song_id: h.reason for h in report.held_songs}["busy-song"]
    assert studio.storage.list(CHARACTER_BUCKET, "songs/old-song/") == []
    listing = list_looks(studio, "old-song")
    assert listing.rounds == [] and listing.picked is None, "no look outlives its image"
    assert_consistent(studio)
