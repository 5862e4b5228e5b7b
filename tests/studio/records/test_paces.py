"""A provider account's pace in the records: moments handed out once each, holds, slowing and recovering."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from studio.generation.pace import Pace
from studio.records import Records
from studio.records.paces import RECOVERY_SECONDS, SLOWDOWN, hold_in, state_in, take_in

ACCOUNT = "replicate:test"
CEILING = 1200.0  # 20 a second: one every 0.05 s


@pytest.fixture
def other(database_url: str) -> Iterator[Records]:
    """A second process's view of the same records."""
    from studio.settings import Settings

    built = Records(Settings(database_url=database_url).resolved_database_url(), create=False)
    yield built
    built.close()


def take(records: Records, now: float) -> float:
    return records.db.written(lambda s: take_in(s, ACCOUNT, CEILING, now))


def test_moments_are_spaced_by_the_pace_whoever_takes_them(records: Records, other: Records) -> None:
    moments = [take(records if n % 2 else other, now=1000.0) for n in range(6)]
    assert moments == pytest.approx([1000.0 + 0.05 * n for n in range(6)])
    assert take(records, now=2000.0) == 2000.0, "an idle account gives the moment asked for"


def test_concurrent_takers_never_share_a_moment(records: Records, other: Records) -> None:
    taken: list[float] = []
    lock = threading.Lock()

    def taker(view: Records) -> None:
        for _ in range(10):
            moment = take(view, now=500.0)
            with lock:
                taken.append(moment)

    threads = [threading.Thread(target=taker, args=(view,)) for view in (records, other, records, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == pytest.approx([500.0 + 0.05 * n for n in range(40)])


def test_a_hold_stops_every_caller_and_slows_the_pace_once(records: Records, other: Records) -> None:
    take(records, now=100.0)
    records.db.written(lambda s: hold_in(s, ACCOUNT, CEILING, 100.1, 0.02))
    other.db.written(lambda s: hold_in(s, ACCOUNT, CEILING, 100.11, 0.02))  # the same hold, seen twice
    state = records.db.read_now(lambda s: state_in(s, ACCOUNT, CEILING, 100.1))  # the moment it slowed
    assert state is not None
    assert (state.per_minute, state.throttled) == (CEILING * SLOWDOWN, 2)
    assert state.held_until == pytest.approx(100.13)
    first, second = take(other, now=100.12), take(records, now=100.12)
    assert first == pytest.approx(100.13), "nobody goes before the provider's reset"
    climbed = CEILING * SLOWDOWN + 0.02 * CEILING / RECOVERY_SECONDS  # 0.02 s after it slowed
    assert second == pytest.approx(100.13 + 60 / climbed), "the pace is slowed"


def test_a_long_reset_slows_the_pace_to_about_one_call_per_reset(records: Records) -> None:
    take(records, now=100.0)
    records.db.written(lambda s: hold_in(s, ACCOUNT, CEILING, 100.0, 2.0))  # "1 a second" answers ~1-2 s
    state = records.db.read_now(lambda s: state_in(s, ACCOUNT, CEILING, 100.0))
    assert state is not None and state.per_minute == 30.0


def test_the_pace_climbs_back_to_the_ceiling_from_the_429(records: Records) -> None:
    take(records, now=100.0)
    records.db.written(lambda s: hold_in(s, ACCOUNT, CEILING, 100.0, 1.0))  # slowed to one a second
    partway = records.db.read_now(lambda s: state_in(s, ACCOUNT, CEILING, 100.0 + RECOVERY_SECONDS / 10))
    after = records.db.read_now(lambda s: state_in(s, ACCOUNT, CEILING, 100.0 + RECOVERY_SECONDS))
    assert partway is not None and after is not None
    assert partway.per_minute == pytest.approx(60 + CEILING / 10)
    assert after.per_minute == CEILING


def test_repeated_holds_slow_the_pace_no_further_than_its_floor(records: Records) -> None:
    take(records, now=0.0)
    for n in range(60):  # sixty holds in a row, each as soon as the last one ended
        records.db.written(lambda s, n=n: hold_in(s, ACCOUNT, CEILING, n * 0.002, 0.001))
    state = records.db.read_now(lambda s: state_in(s, ACCOUNT, CEILING, 59 * 0.002))
    assert state is not None and state.per_minute == pytest.approx(CEILING / 64, rel=0.01)


def test_a_pace_shared_through_the_records_is_one_pace(records: Records, other: Records) -> None:
    async def scenario() -> list[float]:
        mine, theirs = Pace(ACCOUNT, 60, "X"), Pace(ACCOUNT, 60, "X")
        mine.share(records.db)
        theirs.share(other.db)
        waits = await asyncio.gather(*(pace.moment() for pace in (mine, theirs) * 5))  # ~1 s apart
        await mine.hold(5.0)
        return [*waits, await theirs.moment()]

    *waits, held = asyncio.run(scenario())
    assert sorted(waits)[-1] > 8, "ten moments about a second apart, whichever process took them"
    assert held > sorted(waits)[-1], "the other process is held by this one's 429"
