"""What every interrogator returns: a prompt and a description of the character in an image."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Interrogation(BaseModel):
    prompt: str
    character_description: str
    style_notes: str
    source: str
    """The backend that answered: `openai`, `replicate`, `local`."""
    model: str
    cost: Decimal = Decimal("0")
    units: Decimal = Decimal("0")
    """Tokens (openai) or seconds (replicate) billed."""
    prediction_id: str | None = None
    """The provider's id of the paid call, where it has one (Replicate), so the ledger can match it."""
    notes: list[str] = Field(default_factory=list)
    """What a creator should know about the answer, e.g. that it is shorter than asked."""


@runtime_checkable
class Interrogator(Protocol):
    name: str

    async def interrogate(self, image: bytes, content_type: str) -> Interrogation:
        """Describe the character in `image`; raise GenerationError on failure."""
        ...
