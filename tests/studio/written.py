"""What "nothing was written" compares: every row of every table and every stored object's bytes.

Never a listing with signed URLs in it: two listings a second apart differ in their URLs' expiry.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import MetaData, select

from studio.services import Services

BUCKETS = ("character-images", "reference-images")


def everything(services: Services) -> dict[str, Any]:
    """Each table's rows (sorted) and each bucket's objects as key → SHA-256."""
    metadata = MetaData()
    metadata.reflect(services.records.engine)
    with services.records.engine.connect() as connection:
        rows = {
            name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for name, table in metadata.tables.items()
        }
    objects = {
        bucket: {
            key: hashlib.sha256(services.storage.get(bucket, key)).hexdigest()
            for key in services.storage.list(bucket)
        }
        for bucket in BUCKETS
    }
    return {"rows": rows, "objects": objects}


def unsigned(document: Any) -> Any:
    """A document (a `--json` output) with every signed URL cut to its object (no expiry, no signature): what
    two processes printing one result must agree on, whichever second each signed its URLs."""
    if isinstance(document, dict):
        return {name: unsigned(value) for name, value in document.items()}
    if isinstance(document, list):
        return [unsigned(value) for value in document]
    if isinstance(document, str) and "://" in document and "?" in document:
        return document.split("?", 1)[0]
    return document
