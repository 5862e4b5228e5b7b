from __future__ import annotations

import pytest

from studio.errors import InvalidInput
from studio.generation.seeds import MAX_SEED, check_seed, reference_seed

JOB = "00000000-0000-4000-8000-000000000002"


def test_seed_is_deterministic_and_pinned() -> None:
    assert reference_seed(JOB, "scene_alley") == reference_seed(JOB, "scene_alley")
    assert (
        reference_seed(JOB, "scene_alley") == 3704423044
    )  # changing the derivation would change every image


def test_seeds_differ_by_job_and_reference_and_stay_in_range() -> None:
    seeds = {reference_seed(f"job-{j}", f"scene_{r}") for j in range(20) for r in range(50)}
    assert len(seeds) == 1000
    assert all(0 <= s <= MAX_SEED for s in seeds)
    assert MAX_SEED == 2**32 - 1
    assert reference_seed("a", "b_c") != reference_seed("a_b", "c")


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "12", True, None])
def test_check_seed_rejects_overrides_outside_the_range(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_seed(bad, "seeds.scene_alley")
    assert caught.value.field == "seeds.scene_alley"


def test_check_seed_accepts_the_bounds() -> None:
    assert check_seed(0) == 0
    assert check_seed(MAX_SEED) == MAX_SEED
