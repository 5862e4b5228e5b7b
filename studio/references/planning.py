"""What a job will ask for: one planned reference per scene and character, with its exact parameters.

Shared by the pipeline (to generate or reuse), the prompts page and estimates (to show before spending).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel

from studio.characters.provenance import conditioning
from studio.generation.base import GenerationRequest, ImageGenerator, ReferenceImage
from studio.generation.models import SDXL, image_model
from studio.generation.png_parameters import format_parameters
from studio.generation.seeds import reference_seed
from studio.inputs.text_and_numbers import song_duration
from studio.plans.scene_plan import ScenePlan
from studio.prompts import count_tokens, synthesize
from studio.prompts.fitting import fit_prompt
from studio.settings import Settings
from studio.storage.keys import reference_key


class ReferenceOverride(BaseModel):
    """A creator's edits to one reference, kept apart from synthesis so they survive a re-synthesis."""

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    note: str | None = None
    """Why the creator or a reviewer asked for this change; kept with the version it produces."""


@dataclass(frozen=True)
class PlannedReference:
    ref: str
    kind: str
    subject_id: str
    request: GenerationRequest
    storage_key: str
    parameters_text: str
    params_hash: str
    token_count: int
    edited: bool
    note: str | None = None

    @property
    def parameters(self) -> dict[str, object]:
        r = self.request
        values: dict[str, object] = {
            "prompt": r.prompt,
            "negative_prompt": r.negative_prompt,
            "seed": r.seed,
            "width": r.width,
            "height": r.height,
            "steps": r.steps,
            "guidance_scale": r.guidance_scale,
            "scheduler": r.scheduler,
        }
        if r.init_image is not None:
            values["init_image_sha256"] = hashlib.sha256(r.init_image).hexdigest()
        if r.references:
            values["model"] = r.model
            values["reference_images_sha256"] = [hashlib.sha256(i.data).hexdigest() for i in r.references]
        return values


def budget_for(settings: Settings, duration_seconds: float | None) -> Decimal:
    """The seed's `duration_minutes x $200`, or the default budget when the song length is unknown.

    NaN, infinite, zero or negative lengths are InvalidInput: they make a budget of nothing or of everything.
    """
    duration_seconds = song_duration(duration_seconds)
    if duration_seconds is None:
        return settings.default_job_budget
    return (Decimal(str(duration_seconds)) / 60 * settings.budget_per_minute).quantize(Decimal("0.000001"))


LEAD_ROLES = ("main", "lead", "protagonist")


def lead_character(plan: ScenePlan) -> str | None:
    """The plan's lead: the first character whose role says main, lead or protagonist, else the first."""
    for character in plan.characters:
        if any(word in character.role.lower() for word in LEAD_ROLES):
            return character.id
    return plan.characters[0].id if plan.characters else None


def plan_references(
    plan: ScenePlan,
    generator: ImageGenerator,
    overrides: dict[str, ReferenceOverride] | None = None,
    lead_image: bytes | None = None,
    lead_model: str = SDXL,
    lead_references: tuple[ReferenceImage, ...] = (),
) -> list[PlannedReference]:
    """Every reference of the plan with its exact request; `lead_image` (the song's character image)
    conditions the lead character's reference (img2img), and its hash is part of that reference's identity.
    The lead's prompt then fits SDXL's 75 tokens (a tail it would ignore is left out, phrase by phrase).
    A song whose character model is reference-conditioned (`lead_model`) has the lead made by that model from
    `lead_references` (the song's images) instead; scenes stay on SDXL."""
    job_id = str(plan.job_id)
    overrides = overrides or {}
    model = image_model(lead_model)
    if model.conditioned and not lead_references and lead_image is not None:
        lead_references = (ReferenceImage(lead_image, name="character image"),)
    if not model.conditioned:
        lead_references = ()
    has_lead = lead_image is not None or bool(lead_references)
    lead = f"character_{lead_character(plan)}" if has_lead else None
    conditioned = {"Init image": hashlib.sha256(lead_image).hexdigest()[:16]} if lead_image else {}
    if lead_references:
        digest = hashlib.sha256(b"".join(hashlib.sha256(r.data).digest() for r in lead_references))
        conditioned = {"Reference images": digest.hexdigest()[:16]}
    planned = []
    for prompt in synthesize(plan):
        override = overrides.get(prompt.ref, ReferenceOverride())
        is_lead = prompt.ref == lead
        init = lead_image if is_lead and not lead_references else None
        text = override.prompt or prompt.prompt
        request = GenerationRequest(
            prompt=fit_prompt(text).prompt if init is not None else text,
            negative_prompt=override.negative_prompt
            if override.negative_prompt is not None
            else prompt.negative_prompt,
            seed=override.seed if override.seed is not None else reference_seed(job_id, prompt.ref),
            kind=prompt.kind,
            subject=prompt.subject,
            palette=tuple(plan.style.color_palette),
            label=prompt.ref,
            init_image=init,
            model=model.name if is_lead and lead_references else SDXL,
            references=lead_references if is_lead else (),
        )
        text = format_parameters(
            request.prompt,
            request.negative_prompt,
            steps=request.steps,
            sampler=request.scheduler,
            cfg_scale=request.guidance_scale,
            seed=request.seed,
            width=request.width,
            height=request.height,
            model=request.model if request.references else generator.model_version,
            extra={**conditioned, **conditioning(request)} if is_lead and conditioned else None,
        )
        identity = json.dumps(
            {"parameters": text, "provider": generator.name, "kind": request.kind}, sort_keys=True
        ).encode()
        planned.append(
            PlannedReference(
                ref=prompt.ref,
                kind=prompt.kind,
                subject_id=prompt.subject_id,
                request=request,
                storage_key=reference_key(job_id, prompt.ref),
                parameters_text=text,
                params_hash=hashlib.sha256(identity).hexdigest(),
                token_count=count_tokens(request.prompt),
                edited=override != ReferenceOverride(),
                note=override.note,
            )
        )
    return planned
