"""What Replicate charges per second of predict time, so the ledger records each prediction's real cost."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from studio.money import NANO

PRICES_SOURCE = "https://replicate.com/pricing"
PRICES_TAKEN_ON = "2026-11-21"

PRICE_PER_SECOND: dict[str, Decimal] = {
    "cpu": Decimal("0.000100"),
    "gpu-t4": Decimal("0.000225"),
    "gpu-a40-small": Decimal("0.000575"),
    "gpu-a40-large": Decimal("0.000725"),
    "gpu-l40s": Decimal("0.000975"),
    "gpu-a100-large": Decimal("0.001400"),
    "gpu-h100": Decimal("0.001525"),
}
"""Public-model hardware prices in USD per second, from PRICES_SOURCE on PRICES_TAKEN_ON."""

SDXL_HARDWARE = "gpu-l40s"
"""stability-ai/sdxl runs on Nvidia L40S (earlier on A40 Large; L40S is the dearer, so budgets stay safe)."""

HARDWARE_BY_VERSION: dict[str, str] = {
    "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc": SDXL_HARDWARE,
    "50adaf2d3ad20a6f911a8a9e3ccf777b263b8596fbd2c8fc26e8888f8a0edbb5": "gpu-t4",  # methexis-inc/img2prompt
}
"""Model version hash -> hardware it runs on; versions not listed are priced as DEFAULT_HARDWARE."""

DEFAULT_HARDWARE = SDXL_HARDWARE

ESTIMATE_PER_IMAGE = Decimal("0.005")
"""The original's flat per-image estimate: used when a prediction reports no metrics, and for estimates."""


def hardware_for(version: str) -> str:
    """The hardware a model version runs on (`owner/name:hash` or a bare hash)."""
    return HARDWARE_BY_VERSION.get(version.rpartition(":")[2], DEFAULT_HARDWARE)


def price_per_second(version: str) -> Decimal:
    return PRICE_PER_SECOND[hardware_for(version)]


def prediction_cost(predict_time: Decimal, unit_price: Decimal) -> Decimal:
    """Predict seconds x price, in whole nano-dollars like the ledger, so sums agree exactly."""
    return (predict_time * unit_price).quantize(NANO, rounding=ROUND_HALF_UP)
