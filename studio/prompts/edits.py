"""A creator's plan drafts and prompt edits, kept apart from synthesis so they survive a re-synthesis.

The prompts page shows the synthesized prompt of every reference with the creator's edits on top; the
edits become the `ReferenceOverride`s a job is submitted with.
"""

from __future__ import annotations

import secrets

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.errors import InvalidInput
from studio.generation.seeds import MAX_SEED, check_seed, reference_seed
from studio.inputs.text_and_numbers import check_text
from studio.plans.scene_plan import ScenePlan, parse_plan
from studio.prompts import CLIP_USABLE_TOKENS, count_tokens, synthesize
from studio.references.planning import ReferenceOverride
from studio.services import Services

MAX_EDITED_PROMPT_CHARS = 2_000
"""Synthesized prompts stop at 500 characters; an edit may be longer, not endless (CLIP reads 75 tokens)."""


class PromptEdit(BaseModel):
    """What a creator changed on one reference; None means "as synthesized"."""

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    seed_locked: bool = False

    def override(self) -> ReferenceOverride:
        return ReferenceOverride(prompt=self.prompt, negative_prompt=self.negative_prompt, seed=self.seed)

    @property
    def empty(self) -> bool:
        return self == PromptEdit()


class PromptRow(BaseModel):
    """One reference as the prompts table shows it: the effective values and the synthesized ones."""

    ref: str
    kind: str
    subject_id: str
    prompt: str
    negative_prompt: str
    seed: int
    seed_locked: bool
    token_count: int
    truncated_by_clip: bool
    """More than 75 CLIP tokens: SDXL ignores the tail of the prompt."""
    edited: bool
    synthesized_prompt: str
    synthesized_negative_prompt: str
    synthesized_seed: int


class PromptChange(BaseModel):
    """A change to one reference; fields left None are not changed."""

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    seed_locked: bool | None = None


# plans ------------------------------------------------------------------------------------------
def save_plan(services: Services, plan: ScenePlan, source: str = "", *, actor: Actor | None = None) -> str:
    """Keep `plan` as the draft of its job (replacing an earlier draft) and return the job id. Creators only
    (`actor`; without one, the local operator)."""
    require(actor, "create")
    job_id = str(plan.job_id)
    services.records.drafts.save_plan(job_id, plan.model_dump_json(), source)
    return job_id


def get_plan(services: Services, job_id: str) -> ScenePlan | None:
    """The job's draft, else the plan it was submitted with, else None."""
    raw = services.records.drafts.plan_json(job_id)
    return parse_plan(raw) if raw else None


# edits ------------------------------------------------------------------------------------------
def edits(services: Services, job_id: str) -> dict[str, PromptEdit]:
    return {
        row.ref: PromptEdit(
            prompt=row.prompt, negative_prompt=row.negative_prompt, seed=row.seed, seed_locked=row.seed_locked
        )
        for row in services.records.drafts.edits(job_id)
    }


def overrides(services: Services, plan: ScenePlan) -> dict[str, ReferenceOverride]:
    """The edits of the plan's references as the overrides `studio.references.jobs.submit` takes."""
    refs = {p.ref for p in synthesize(plan)}
    found = edits(services, str(plan.job_id)).items()
    return {
        ref: edit.override() for ref, edit in found if ref in refs and edit.override() != ReferenceOverride()
    }


def prompt_rows(services: Services, plan: ScenePlan) -> list[PromptRow]:
    """Every reference's prompt, negative prompt and seed with the creator's edits applied."""
    job_id = str(plan.job_id)
    saved = edits(services, job_id)
    rows = []
    for synthesized in synthesize(plan):
        edit = saved.get(synthesized.ref, PromptEdit())
        derived = reference_seed(job_id, synthesized.ref)
        prompt = edit.prompt if edit.prompt is not None else synthesized.prompt
        tokens = count_tokens(prompt) if edit.prompt is not None else synthesized.token_count
        rows.append(
            PromptRow(
                ref=synthesized.ref,
                kind=synthesized.kind,
                subject_id=synthesized.subject_id,
                prompt=prompt,
                negative_prompt=edit.negative_prompt
                if edit.negative_prompt is not None
                else synthesized.negative_prompt,
                seed=edit.seed if edit.seed is not None else derived,
                seed_locked=edit.seed_locked,
                token_count=tokens,
                truncated_by_clip=tokens > CLIP_USABLE_TOKENS,
                edited=edit.override() != ReferenceOverride(),
                synthesized_prompt=synthesized.prompt,
                synthesized_negative_prompt=synthesized.negative_prompt,
                synthesized_seed=derived,
            )
        )
    return rows


def _row(services: Services, plan: ScenePlan, ref: str) -> PromptRow:
    for row in prompt_rows(services, plan):
        if row.ref == ref:
            return row
    raise InvalidInput("ref", f"{ref!r} is not a reference of plan {plan.job_id}")


def _store(services: Services, job_id: str, ref: str, edit: PromptEdit) -> None:
    services.records.drafts.store_edit(job_id, ref, None if edit.empty else edit.model_dump())


def edit_reference(
    services: Services, plan: ScenePlan, ref: str, change: PromptChange, *, actor: Actor | None = None
) -> PromptRow:
    """Apply `change` to one reference; a value equal to the synthesized one clears that edit. Creators only
    (`actor`; without one, the local operator)."""
    require(actor, "create")
    current = _row(services, plan, ref)
    job_id = str(plan.job_id)
    edit = edits(services, job_id).get(ref, PromptEdit())
    if change.prompt is not None:
        prompt = check_text(f"{ref}.prompt", change.prompt.strip(), MAX_EDITED_PROMPT_CHARS)
        if not prompt:
            raise InvalidInput(
                f"{ref}.prompt", "must not be empty; use reset to go back to the synthesized one"
            )
        edit.prompt = None if prompt == current.synthesized_prompt else prompt
    if change.negative_prompt is not None:
        negative = check_text(
            f"{ref}.negative_prompt", change.negative_prompt.strip(), MAX_EDITED_PROMPT_CHARS
        )
        edit.negative_prompt = None if negative == current.synthesized_negative_prompt else negative
    if change.seed is not None:
        seed = check_seed(change.seed, f"{ref}.seed")
        edit.seed = None if seed == current.synthesized_seed else seed
    if change.seed_locked is not None:
        edit.seed_locked = change.seed_locked
    _store(services, job_id, ref, edit)
    return _row(services, plan, ref)


def reset_reference(
    services: Services, plan: ScenePlan, ref: str, *, actor: Actor | None = None
) -> PromptRow:
    """Drop every edit of one reference: back to the synthesized prompt, negative prompt and seed."""
    require(actor, "create")
    _row(services, plan, ref)
    services.records.drafts.store_edit(str(plan.job_id), ref, None)
    return _row(services, plan, ref)


def reroll_seed(services: Services, plan: ScenePlan, ref: str, *, actor: Actor | None = None) -> int:
    """Give one reference a new random seed; a locked seed is refused."""
    require(actor, "create")
    if _row(services, plan, ref).seed_locked:
        raise InvalidInput(f"{ref}.seed", "is locked; unlock it before rerolling")
    seed = secrets.randbelow(MAX_SEED + 1)
    edit_reference(services, plan, ref, PromptChange(seed=seed), actor=actor)
    return seed


def reroll_unlocked(services: Services, plan: ScenePlan, *, actor: Actor | None = None) -> dict[str, int]:
    """A new random seed for every reference whose seed is not locked; returns them by ref."""
    require(actor, "create")
    return {
        row.ref: reroll_seed(services, plan, row.ref, actor=actor)
        for row in prompt_rows(services, plan)
        if not row.seed_locked
    }
