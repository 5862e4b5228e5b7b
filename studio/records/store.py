"""The records: one database, read and written through a service per concern."""

from __future__ import annotations

from sqlalchemy import Engine

from studio.records.api_keys import ApiKeyRecords
from studio.records.database import Database
from studio.records.events import EventRecords
from studio.records.failures import translated
from studio.records.jobs import JobRecords
from studio.records.ledger import LedgerRecords
from studio.records.looks import LookRecords
from studio.records.objects import ObjectRecords
from studio.records.prompt_edits import DraftRecords
from studio.records.references import ReferenceRecords
from studio.records.retention import RetentionRecords
from studio.records.reviews import ReviewRecords
from studio.records.songs import SongRecords
from studio.records.work import WorkRecords


class Records:
    """The work queue, jobs, references and versions, the ledger, events, songs and looks, reviews, drafts,
    and the checks of stored objects.

    Rows come back detached and read-only by convention.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open the records at `url` (created or upgraded when `create`); RecordsUnavailable says why not."""
        self.url = url
        with translated(url):
            self.db = Database(url)
            try:
                if create:
                    from studio.records.migrate import upgrade

                    upgrade(self.db.engine)
            except BaseException:
                self.db.close()
                raise
        self.jobs = JobRecords(self.db)
        self.references = ReferenceRecords(self.db)
        self.ledger = LedgerRecords(self.db)
        self.events = EventRecords(self.db)
        self.songs = SongRecords(self.db)
        self.looks = LookRecords(self.db)
        self.reviews = ReviewRecords(self.db)
        self.drafts = DraftRecords(self.db)
        self.retention = RetentionRecords(self.db)
        self.objects = ObjectRecords(self.db)
        self.work = WorkRecords(self.db)
        self.api_keys = ApiKeyRecords(self.db)

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def is_postgres(self) -> bool:
        return self.db.is_postgres

    def close(self) -> None:
        self.db.close()
