"""The records thread batches ops of one kind into one statement, and never reorders two ops on one row.

Seen in CI: a reference's "generating" update and its "stored" version landed in one batch, the versions ran
first as their kind appeared first, and the job ended `success` with that reference still `generating`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from studio.records.database import BatchedOp, Op, _groups


class Write(BatchedOp):
    """A batched write of `kind` to `rows`, recording the order it ran in."""

    def __init__(self, kind: str, *rows: str) -> None:
        self.kind = kind
        self.touches = frozenset(rows)

    @classmethod
    def run_all(cls, session: Session, ops: list[Any]) -> list[Any]:
        return [None] * len(ops)


def plain(_session: Session) -> None:
    """An op that is not batched."""


def test_ops_of_a_kind_on_other_rows_run_together() -> None:
    ops = [Write("status", "r1"), Write("version", "r0"), Write("status", "r2"), Write("version", "r3")]
    assert _groups(ops) == [[0, 2], [1, 3]]


def test_an_op_never_moves_ahead_of_an_earlier_op_on_its_row() -> None:
    """version(r1) must not join version(r0)'s group: it would run before status(r1), queued earlier."""
    ops = [Write("version", "r0"), Write("status", "r1"), Write("version", "r1"), Write("version", "r2")]
    groups = _groups(ops)
    assert groups == [[0], [1], [2, 3]]
    position = {index: order for order, group in enumerate(groups) for index in group}
    assert position[1] < position[2], "status(r1) runs before version(r1)"


def test_an_op_that_is_not_batched_is_a_barrier() -> None:
    ops: list[Op[Any]] = [Write("event"), plain, Write("event"), Write("event")]
    assert _groups(ops) == [[0], [1], [2, 3]]


def test_order_on_every_row_is_kept_in_a_long_mixed_batch() -> None:
    kinds = ("status", "version", "cancel")
    ops = [Write(kinds[(i * 7) % 3], f"r{(i * 5) % 4}") for i in range(40)]
    groups = _groups(ops)
    assert sorted(i for group in groups for i in group) == list(range(40)), "every op runs once"
    ran = [i for group in groups for i in group]
    for row in {f"r{n}" for n in range(4)}:
        on_row = [i for i in ran if row in ops[i].touches]
        assert on_row == sorted(on_row), f"the ops on {row} ran in the order they were queued"
    assert len(groups) < 40, "ops still batch"
