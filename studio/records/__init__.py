"""Durable records (jobs, references, the cost ledger, events) through SQLAlchemy."""

from studio.records.schema import Base
from studio.records.store import Records

__all__ = ["Base", "Records"]
