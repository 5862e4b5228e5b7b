"""Progress events of jobs, persisted so every browser tab and a follower process see the same run."""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from studio.records.database import Database, Op
from studio.records.schema import EventRow, utcnow

_EVENTS = cast(Table, EventRow.__table__)
_ADD = insert(_EVENTS)


class EventRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def add_op(job_id: str, events: list[tuple[str, dict[str, Any]]]) -> Op[None]:
        rows = [
            {
                "job_id": job_id,
                "type": type_,
                "payload_json": json.dumps(payload, default=str),
                "created_at": utcnow(),
            }
            for type_, payload in events
        ]

        def op(s: Session) -> None:
            s.connection().execute(_ADD, rows)

        return op

    def add(self, job_id: str, type_: str, payload: dict[str, Any]) -> None:
        with self.db.write() as s:
            self.add_op(job_id, [(type_, payload)])(s)

    def after(self, job_id: str, after_id: int = 0) -> list[EventRow]:
        with self.db.read() as s:
            query = (
                select(EventRow)
                .where(EventRow.job_id == job_id, EventRow.id > after_id)
                .order_by(EventRow.id)
            )
            return list(s.scalars(query))

    def latest(self, job_id: str, type_: str) -> EventRow | None:
        """The job's most recent event of a type."""
        with self.db.read() as s:
            query = (
                select(EventRow)
                .where(EventRow.job_id == job_id, EventRow.type == type_)
                .order_by(EventRow.id.desc())
                .limit(1)
            )
            return s.scalars(query).first()
