"""Records of looks on SQLite and PostgreSQL: rounds numbered per song, fenced writes, picks, archiving."""

from __future__ import annotations

import asyncio

import pytest

from studio.errors import InvalidInput, NotFound
from studio.records import Records
from studio.records.looks import NewRound, RoundStatus, StoredLook
from studio.records.objects import ObjectCheck
from studio.records.work import Claimed, WorkKind
from studio.storage.keys import CHARACTER_BUCKET

SONG = "demo-song"
REFERENCE = "songs/demo-song/character_reference.png"


def new_round(seeds: tuple[int, ...] = (1, 2, 3), reference: str = REFERENCE) -> NewRound:
    return NewRound(
        song_id=SONG, origin="looks", prompt="a courier", negative_prompt="blurry", strength=0.7,
        seeds=seeds, init_key=reference, reference_key=reference,
    )  # fmt: skip


def uploaded(records: Records) -> None:
    records.songs.replace_character(
        SONG, "uploaded", None, character_reference_key=REFERENCE, character_reference_source="upload"
    )


def claim(records: Records, owner: str) -> Claimed | None:
    return asyncio.run(records.work.claim(owner, 30, kinds=(WorkKind.LOOKS,)))


def test_rounds_are_numbered_per_song_and_their_looks_named_by_round(records: Records) -> None:
    uploaded(records)
    first = records.looks.create_round(new_round())
    second = records.looks.create_round(new_round((9,)))
    assert (first.round.number, second.round.number) == (1, 2)
    assert [look.id for look in first.looks] == ["r1-1", "r1-2", "r1-3"]
    assert [look.seed for look in first.looks] == [1, 2, 3] and second.looks[0].id == "r2-1"
    assert records.looks.next_number(SONG) == 3 and records.looks.open_rounds(SONG) == 2
    assert first.status == "queued" and first.round.work_id is not None


def test_a_round_for_a_replaced_reference_or_no_song_is_refused(records: Records) -> None:
    with pytest.raises(NotFound):
        records.looks.create_round(new_round())
    uploaded(records)
    with pytest.raises(InvalidInput, match="changed meanwhile"):
        records.looks.create_round(new_round(reference="songs/demo-song/character_reference.jpg"))
    assert records.looks.rounds(SONG) == []


def test_writes_are_fenced_by_the_rounds_lease_and_archiving_ends_it(records: Records) -> None:
    uploaded(records)
    made = records.looks.create_round(new_round())
    claimed = claim(records, "me:1:a")
    assert claimed is not None
    lease = claimed.lease
    assert lease.subject == made.round.id and claim(records, "other:2:b") is None
    assert records.looks.round(made.round.id).status == "running"  # type: ignore[union-attr]
    stored = StoredLook(cost_nanos=5, provider="replicate", model_version="sdxl", prediction_id="p1")
    assert records.db.submit(records.looks.store_op(lease, SONG, "r1-1", stored, [])).result()
    assert records.db.submit(records.looks.fail_op(lease, SONG, "r1-2", "nsfw")).result()
    records.songs.replace_character(SONG, "a new upload", 10**9, character_reference_key=REFERENCE)
    assert not records.db.submit(records.looks.store_op(lease, SONG, "r1-3", stored, [])).result()
    assert not records.db.submit(records.looks.finish_op(lease, RoundStatus.COMPLETED)).result()
    assert asyncio.run(records.work.renew(lease, 30)) == (False, False)
    [archived] = records.looks.rounds(SONG)
    assert archived.round.archived and archived.status == "superseded"
    statuses = [(look.id, look.status, look.storage_key) for look in archived.looks]
    assert statuses == [
        ("r1-1", "stored", "songs/demo-song/looks/r1-1.png"),
        ("r1-2", "failed", None),
        ("r1-3", "failed", None),
    ]
    assert claim(records, "me:1:a") is None, "an archived round is never claimed again"


def test_a_pick_needs_a_stored_look_of_a_current_round(records: Records) -> None:
    uploaded(records)
    records.looks.create_round(new_round())
    claimed = claim(records, "me:1:a")
    assert claimed is not None
    records.db.submit(records.looks.store_op(claimed.lease, SONG, "r1-2", StoredLook(), [])).result()
    check = ObjectCheck.of(b"the look's image")
    assert records.looks.pick(SONG, "r1-2", check) is not None
    song = records.songs.song(SONG)
    assert song is not None and song.character_look_id == "r1-2"
    assert song.character_generated_key == "songs/demo-song/character_generated.png"
    assert records.objects.checks(CHARACTER_BUCKET, [song.character_generated_key]) == {
        song.character_generated_key: check
    }
    with pytest.raises(InvalidInput, match="r1-1 has no image"):
        records.looks.pick(SONG, "r1-1", check)
    records.songs.replace_character(SONG, "a template", None, character_reference_key=REFERENCE)
    assert records.songs.song(SONG).character_look_id is None  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="archived round"):
        records.looks.pick(SONG, "r1-2", check)
