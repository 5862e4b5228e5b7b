"""Durable records (jobs, references, the cost ledger, events, songs) through SQLAlchemy."""

from studio.records import api_keys as api_keys  # registers the api_keys table on Base
from studio.records import looks as looks  # registers look_rounds and looks on Base
from studio.records import objects as objects  # registers the object_checks table on Base
from studio.records import paces as paces  # registers the provider_paces table on Base
from studio.records import paid_calls as paid_calls  # registers the paid_calls table on Base
from studio.records import prompt_edits as prompt_edits  # registers plan_drafts and prompt_edits on Base
from studio.records import reviews as reviews  # registers the reviews table on Base
from studio.records import songs as songs  # registers the songs and character_jobs tables on Base
from studio.records import work as work  # registers the work table on Base
from studio.records.ledger import LedgerEntry
from studio.records.schema import Base
from studio.records.store import Records

__all__ = ["Base", "LedgerEntry", "Records"]
