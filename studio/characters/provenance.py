"""Where a look came from, in its PNG: the A1111 `parameters` chunk with its round, look, strength and parent.

A picked look's bytes are copied to the song's generated key as they are, so the song's generated image says
which look it is and how it was made.
"""

from __future__ import annotations

from studio.generation.base import GenerationRequest
from studio.generation.png_parameters import embed_parameters, format_parameters


def conditioning(request: GenerationRequest) -> dict[str, str]:
    """What a reference-conditioned image was made from, for its `parameters` chunk: the images it was
    conditioned on, and that it cannot be remade exactly when its model takes no seed."""
    from studio.generation.models import image_model

    model = image_model(request.model)
    if not model.conditioned:
        return {}
    named = [image.name or f"image {n}" for n, image in enumerate(request.references, 1)]
    found = {"Character model": model.name, "Conditioned on": " + ".join(named) or "nothing"}
    if not model.seed:
        found["Reproducible"] = "no (the model takes no seed)"
    return found


def look_ref(look_id: str) -> str:
    """The ledger's and predictions' name of a look: `character_look_r2-3`."""
    return f"character_look_{look_id}"


def stamp_look(
    png: bytes,
    request: GenerationRequest,
    model: str,
    *,
    look_id: str,
    round_number: int,
    strength: float,
    parent: str | None,
) -> bytes:
    """`png` with the request's parameters and the look's provenance in its `parameters` chunk."""
    extra = {
        "Denoising strength": f"{strength:g}" if not request.references else "n/a",
        "Look": look_id,
        "Round": str(round_number),
        "Parent": parent or "reference",
        **conditioning(request),
    }
    parameters = format_parameters(
        request.prompt,
        request.negative_prompt,
        request.steps,
        request.scheduler,
        request.guidance_scale,
        request.seed,
        request.width,
        request.height,
        model,
        extra,
    )
    return embed_parameters(png, parameters)
