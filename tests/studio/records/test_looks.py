"""Records of looks on SQLite and PostgreSQL: rounds numbered per song, fenced writes, picks, archiving."""

from __future__ import annotations

import asyncio

import pytest

from studio.errors import InvalidInput, NotFound
from studio.records import Records
from studio.records.looks import NewRound, StoredLook

SONG = "demo-song"
REFERENCE = "songs/demo-song/character_reference.png"


def new_round(seeds: tuple[int, ...] = (1, 2, 3), reference: str = REFERENCE) -> NewRound:
    return NewRound(
        song_id=SONG, origin="looks", prompt="a courier", negative_prompt="blurry", strength=0.7,
        seeds=seeds, init_key=reference, reference_key=reference,
    )  # fmt: skip


def uploaded(records: Records) -> None:
    records.songs.replace_character(
        SONG, "uploaded", False, character_reference_key=REFERENCE, character_reference_source="upload"
    )


def test_rounds_are_numbered_per_song_and_their_looks_named_by_round(records: Records) -> None:
    uploaded(records)
    first = records.looks.create_round(new_round())
    second = records.looks.create_round(new_round((9,)))
    assert (first.round.number, second.round.number) == (1, 2)
    assert [look.id for look in first.looks] == ["r1-1", "r1-2", "r1-3"]
    assert [look.seed for look in first.looks] == [1, 2, 3] and second.looks[0].id == "r2-1"
    assert records.looks.next_number(SONG) == 3 and records.looks.open_rounds(SONG) == 2


def test_a_round_for_a_replaced_reference_or_no_song_is_refused(records: Records) -> None:
    with pytest.raises(NotFound):
        records.looks.create_round(new_round())
    uploaded(records)
    with pytest.raises(InvalidInput, match="changed meanwhile"):
        records.looks.create_round(new_round(reference="songs/demo-song/character_reference.jpg"))
    assert records.looks.rounds(SONG) == []


def test_writes_are_fenced_by_the_rounds_lease_and_archiving_ends_it(records: Records) -> None:
    uploaded(records)
    records.looks.create_round(new_round())
    claimed = records.looks.claim("me:1:a", 30)
    assert claimed is not None
    lease, found = claimed
    assert found.round.status == "running" and records.looks.claim("other:2:b", 30) is None
    stored = StoredLook(cost_nanos=5, provider="replicate", model_version="sdxl", prediction_id="p1")
    assert records.db.submit(records.looks.store_op(lease, SONG, "r1-1", stored)).result()
    assert records.db.submit(records.looks.fail_op(lease, SONG, "r1-2", "nsfw")).result()
    records.songs.replace_character(SONG, "a new upload", True, character_reference_key=REFERENCE)
    assert not records.db.submit(records.looks.store_op(lease, SONG, "r1-3", stored)).result()
    assert not records.db.submit(records.looks.finish_op(lease, "completed")).result()
    assert not asyncio.run(records.looks.beat(lease, 30))[0]
    [archived] = records.looks.rounds(SONG)
    assert archived.round.archived and archived.round.status == "superseded"
    statuses = [(look.id, look.status, look.storage_key) for look in archived.looks]
    assert statuses == [
        ("r1-1", "stored", "songs/demo-song/looks/r1-1.png"),
        ("r1-2", "failed", None),
        ("r1-3", "failed", None),
    ]
    assert records.looks.claim("me:1:a", 30) is None, "an archived round is never claimed again"


def test_a_pick_is_one_transaction_with_its_publish(records: Records) -> None:
    uploaded(records)
    records.looks.create_round(new_round())
    lease, _ = records.looks.claim("me:1:a", 30) or (None, None)
    assert lease is not None
    records.db.submit(records.looks.store_op(lease, SONG, "r1-2", StoredLook())).result()
    published: list[str] = []
    records.looks.pick(SONG, "r1-2", lambda song: published.append(song.id))
    song = records.songs.song(SONG)
    assert song is not None and song.character_look_id == "r1-2" and published == [SONG]

    def broken(_song: object) -> None:
        raise OSError("storage down")

    with pytest.raises(OSError):
        records.looks.pick(SONG, "r1-2", broken)
    with pytest.raises(InvalidInput, match="r1-1 has no image"):
        records.looks.pick(SONG, "r1-1", broken)
    records.songs.replace_character(SONG, "a template", False, character_reference_key=REFERENCE)
    assert records.songs.song(SONG).character_look_id is None  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="archived round"):
        records.looks.pick(SONG, "r1-2", broken)
