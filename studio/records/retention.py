"""The queries retention needs: what exists and when it last changed, and deleting a job's records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, or_, select, update

from studio.records.database import Database
from studio.records.jobs import FINISHED, status_of
from studio.records.looks import LookRoundRow, LookRow
from studio.records.objects import forget_checks
from studio.records.paid_calls import PaidCallRow
from studio.records.prompt_edits import PlanDraftRow, PromptEditRow
from studio.records.reviews import ReviewRow
from studio.records.schema import EventRow, JobRow, ReferenceRow, ReferenceVersionRow, as_utc
from studio.records.songs import CharacterJobRow, SongRow
from studio.records.work import OPEN, WorkRow
from studio.storage.keys import REFERENCE_BUCKET

JOB_TABLES: tuple[Any, ...] = (
    ReferenceVersionRow,
    ReferenceRow,
    ReviewRow,
    EventRow,
    PromptEditRow,
    PlanDraftRow,
    PaidCallRow,
)
"""Tables whose rows belong to one job (the ledger is kept: it is the cost history)."""


class JobState(NamedTuple):
    """The columns of a job that retention decides on (plans and results stay in the database)."""

    id: str
    status: str
    completed_at: datetime | None
    song_id: str | None


class RetentionState(NamedTuple):
    jobs: list[JobState]
    songs: list[SongRow]
    character_activity: dict[str, datetime]
    """Per song, when its consistency jobs last did anything."""
    open_songs: set[str]
    """Songs with a queued or running consistency job or round of looks."""


class RetentionRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def state(self) -> RetentionState:
        with self.db.read() as s:
            rows = s.execute(
                select(JobRow, WorkRow)
                .join(WorkRow, WorkRow.id == JobRow.work_id)
                .order_by(JobRow.completed_at, JobRow.id)
            )
            jobs = [
                JobState(row[0].id, status_of(row[0], row[1]), row[0].completed_at, row[0].song_id)
                for row in rows
            ]
            songs = list(s.scalars(select(SongRow).order_by(SongRow.id)))
            activity = select(
                CharacterJobRow.song_id,
                func.max(func.coalesce(CharacterJobRow.finished_at, CharacterJobRow.created_at)),
            ).group_by(CharacterJobRow.song_id)
            character_activity = {song_id: moment for song_id, moment in s.execute(activity) if moment}
            open_work = select(WorkRow.id).where(WorkRow.status.in_(OPEN))
            open_songs = set(
                s.scalars(select(CharacterJobRow.song_id).where(CharacterJobRow.work_id.in_(open_work)))
            ) | set(s.scalars(select(LookRoundRow.song_id).where(LookRoundRow.work_id.in_(open_work))))
        return RetentionState(jobs, songs, character_activity, open_songs)

    def count_job_records(self, job_id: str) -> dict[str, int]:
        with self.db.read() as s:
            counts = {JobRow.__tablename__: 1}
            for table in JOB_TABLES:
                query = select(func.count()).select_from(table).where(table.job_id == job_id)
                counts[table.__tablename__] = int(s.scalar(query) or 0)
        return counts

    def delete_job(self, job_id: str, cutoff: datetime) -> int | None:
        """Delete the job's records if it is still finished before `cutoff`; None when it was resumed."""
        with self.db.write() as s:
            found = s.execute(
                select(JobRow, WorkRow).join(WorkRow, WorkRow.id == JobRow.work_id).where(JobRow.id == job_id)
            ).first()
            if found is None:
                return None
            job, work = found[0], found[1]
            completed = job.completed_at is not None and as_utc(job.completed_at) <= cutoff
            if status_of(job, work) not in FINISHED or not completed:
                return None
            removed = 0
            for table in JOB_TABLES:
                removed += int(s.execute(delete(table).where(table.job_id == job_id)).rowcount)  # type: ignore[attr-defined]
            removed += int(s.execute(delete(JobRow).where(JobRow.id == job_id)).rowcount)  # type: ignore[attr-defined]
            s.execute(delete(WorkRow).where(WorkRow.id == work.id))
            forget_checks(s, REFERENCE_BUCKET, job_id)  # its objects are gone (not counted: not a record)
            return removed

    def delete_missing_references(self, job_id: str, remaining: set[str]) -> int:
        """After a failed deletion: remove the version and reference rows whose object is gone."""
        removed = 0
        with self.db.write() as s:
            for table in (ReferenceVersionRow, ReferenceRow):
                result = s.execute(
                    delete(table).where(table.job_id == job_id, table.storage_key.not_in(sorted(remaining)))
                )
                removed += int(result.rowcount)  # type: ignore[attr-defined]
        return removed

    def clear_song(self, song_id: str, values: dict[str, Any]) -> None:
        with self.db.write() as s:
            s.execute(update(SongRow).where(SongRow.id == song_id).values(**values))

    def forget_looks(self, song_id: str, remaining: set[str]) -> int:
        """Delete the song's looks whose image is gone (not in `remaining`), and rounds left empty."""
        with self.db.write() as s:
            gone = s.execute(
                delete(LookRow).where(
                    LookRow.song_id == song_id,
                    or_(LookRow.storage_key.is_(None), LookRow.storage_key.not_in(sorted(remaining))),
                )
            )
            kept = select(LookRow.round_id).where(LookRow.song_id == song_id)
            s.execute(
                delete(LookRoundRow).where(LookRoundRow.song_id == song_id, LookRoundRow.id.not_in(kept))
            )
            return int(gone.rowcount)  # type: ignore[attr-defined]
