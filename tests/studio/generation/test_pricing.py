"""Replicate pricing: hardware per model version, per-second prices, costs exact to the nano-dollar."""

from __future__ import annotations

from decimal import Decimal

from studio.generation.pricing import (
    DEFAULT_HARDWARE,
    PRICE_PER_SECOND,
    PRICES_SOURCE,
    PRICES_TAKEN_ON,
    hardware_for,
    prediction_cost,
    price_per_second,
)
from studio.settings import DEFAULT_SDXL_VERSION


def test_pinned_sdxl_runs_on_l40s_at_its_published_price() -> None:
    assert hardware_for(DEFAULT_SDXL_VERSION) == "gpu-l40s"
    assert hardware_for(f"stability-ai/sdxl:{DEFAULT_SDXL_VERSION}") == "gpu-l40s"
    assert price_per_second(DEFAULT_SDXL_VERSION) == Decimal("0.000975")
    assert PRICES_SOURCE.startswith("https://replicate.com/")
    assert PRICES_TAKEN_ON


def test_unknown_versions_get_the_default_hardware() -> None:
    assert hardware_for("owner/model:" + "0" * 64) == DEFAULT_HARDWARE
    assert DEFAULT_HARDWARE in PRICE_PER_SECOND


def test_cost_is_predict_time_times_price_in_whole_nanos() -> None:
    assert prediction_cost(Decimal("4.5"), Decimal("0.000975")) == Decimal("0.004387500")
    assert prediction_cost(Decimal("0.512345"), Decimal("0.000975")) == Decimal("0.000499536")
    assert prediction_cost(Decimal("0"), Decimal("0.000975")) == 0
