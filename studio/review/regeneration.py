"""Regeneration of a rejected reference, and what changed between two of its versions.

The rejection reason is a review decision: it stays in the audit trail and in the new version's note. What to
change is asked separately (the page offers the reason as a start), in the reviewer's words: into the prompt,
which is then synthesized again from the scene or character with the change right after the subject (a time of
day or lighting in the change replaces the plan's), or appended to the negative prompt. A preview shows both
prompts and their CLIP token counts before anything is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.errors import InvalidInput, NotFound
from studio.generation.seeds import check_seed, reference_seed
from studio.plans.scene_plan import ScenePlan
from studio.prompts import count_tokens
from studio.prompts import edits as prompt_edits
from studio.prompts.changes import WordChange, word_diff
from studio.prompts.synthesis import cut_to_limit, prompt_with_change
from studio.prompts.tokens import CLIP_USABLE_TOKENS
from studio.references import jobs
from studio.references.planning import ReferenceOverride
from studio.review.gate import ReferenceReview, ReferenceVersion, review_board
from studio.services import Services

ChangeTarget = Literal["prompt", "negative_prompt"]
TARGET_WORDS: dict[ChangeTarget, str] = {"prompt": "prompt", "negative_prompt": "negative prompt"}
MAX_CHANGE_CHARS = 300


@dataclass(frozen=True)
class RegenerationRequest:
    """What the reviewer asks for: words to change (empty: only a new seed), where they go, maybe a seed."""

    change: str = ""
    target: ChangeTarget = "prompt"
    seed: int | None = None


class RegenerationPreview(BaseModel):
    """What a regeneration will ask for: exactly what `regenerate_rejected` submits for the same input."""

    job_id: str
    ref: str
    from_version: int
    reason: str
    """The rejection reason, kept for the new version's note."""
    change: str
    """The reviewer's change as prompt words (empty: only the seed changes)."""
    target: ChangeTarget
    prompt: str
    negative_prompt: str
    seed: int
    seed_locked: bool
    note: str
    prompt_tokens: int
    negative_tokens: int
    token_limit: int = CLIP_USABLE_TOKENS

    @property
    def over_limit(self) -> list[ChangeTarget]:
        """The prompts CLIP would cut: words past the limit do not reach the model."""
        counts: dict[ChangeTarget, int] = {
            "prompt": self.prompt_tokens,
            "negative_prompt": self.negative_tokens,
        }
        return [target for target, count in counts.items() if count > self.token_limit]


class VersionDiff(BaseModel):
    """Two versions of one reference side by side: word diffs of both prompts, the seeds, the newer note."""

    older: int
    newer: int
    prompt: list[WordChange]
    negative_prompt: list[WordChange]
    older_seed: int
    newer_seed: int
    note: str | None

    @property
    def seed_changed(self) -> bool:
        return self.older_seed != self.newer_seed

    @property
    def unchanged(self) -> bool:
        words = self.prompt + self.negative_prompt
        return not self.seed_changed and all(w.change == "same" for w in words)


def prompt_words(text: str) -> str:
    """A reviewer's sentence as prompt words: sentence punctuation becomes SDXL's comma-separated clauses."""
    words = text.replace("\n", " ")
    for mark in (";", ".", "!", "?", ":"):
        words = words.replace(mark, ",")
    clauses = [" ".join(c.split()) for c in words.split(",")]
    return ", ".join(c for c in clauses if c).lower()


def with_negative(negative_prompt: str, words: str) -> str:
    """The negative prompt with the words appended; first instead when CLIP would cut them off the end."""
    base = negative_prompt.strip(" ,")
    if not base:
        return cut_to_limit(words)
    appended = f"{base}, {words}"
    if count_tokens(appended) <= CLIP_USABLE_TOKENS:
        return cut_to_limit(appended)
    return cut_to_limit(f"{words}, {base}")


def _changed_prompt(services: Services, job_id: str, reference: ReferenceReview, words: str) -> str:
    job = services.records.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    plan = ScenePlan.model_validate_json(job.plan_json)
    return prompt_with_change(plan, reference.kind, reference.subject_id, words)


def _rejected(services: Services, job_id: str, ref: str) -> tuple[ReferenceReview, ReferenceVersion]:
    reference = review_board(services, job_id).reference(ref)
    latest = reference.latest
    if latest is None or reference.status != "rejected":
        raise InvalidInput("reference", f"{ref} is {reference.status}; only a rejected one is regenerated")
    return reference, latest


def _seed(services: Services, job_id: str, ref: str, latest: ReferenceVersion, seed: int | None) -> int:
    if seed is not None:
        return check_seed(seed)
    if prompt_edits.edits(services, job_id).get(ref, prompt_edits.PromptEdit()).seed_locked:
        return latest.seed
    fresh = reference_seed(job_id, f"{ref}_v{latest.version + 1}")
    return (fresh + 1) % 2**32 if fresh == latest.seed else fresh


def preview_regeneration(
    services: Services, job_id: str, ref: str, request: RegenerationRequest | None = None
) -> RegenerationPreview:
    """The prompts, seed and note a regeneration of a rejected reference would use; nothing is written.

    An empty change keeps both prompts and only draws a new seed (unless the creator locked it, in which
    case nothing would change and the preview is refused).
    """
    request = request or RegenerationRequest()
    target = request.target
    if target not in TARGET_WORDS:
        raise InvalidInput("target", f"{target!r} is not prompt or negative_prompt")
    if len(request.change) > MAX_CHANGE_CHARS:
        raise InvalidInput("change", f"is {len(request.change)} characters long; at most {MAX_CHANGE_CHARS}")
    reference, latest = _rejected(services, job_id, ref)
    words = prompt_words(request.change)
    prompt, negative = latest.prompt, latest.negative_prompt
    if words and target == "prompt":
        prompt = _changed_prompt(services, job_id, reference, words)
    elif words:
        negative = with_negative(negative, words)
    new_seed = _seed(services, job_id, ref, latest, request.seed)
    if (prompt, negative, new_seed) == (latest.prompt, latest.negative_prompt, latest.seed):
        raise InvalidInput(
            "change",
            "nothing would change (the seed is locked): say what to add to the prompt or negative prompt",
        )
    reason = latest.decisions[-1].reason or ""
    note = f"rejected v{latest.version}: {reason}"
    if words:
        note += f" · added to the {TARGET_WORDS[target]}: {words}"
    return RegenerationPreview(
        job_id=job_id,
        ref=ref,
        from_version=latest.version,
        reason=reason,
        change=words,
        target=target,
        prompt=prompt,
        negative_prompt=negative,
        seed=new_seed,
        seed_locked=new_seed == latest.seed and request.seed is None,
        note=note,
        prompt_tokens=count_tokens(prompt),
        negative_tokens=count_tokens(negative),
    )


def regenerate_rejected(
    services: Services,
    job_id: str,
    ref: str,
    request: RegenerationRequest | None = None,
    *,
    actor: Actor | None = None,
) -> str:
    """Queue a new version of a rejected reference as `preview_regeneration` describes it; returns the job id.

    The new prompts and seed also become the creator's prompt edits, so a later "generate again" reproduces
    this version instead of going back to the rejected one. Only creators regenerate (it spends).
    """
    require(actor, "create")
    preview = preview_regeneration(services, job_id, ref, request)
    job = services.records.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}")
    plan = ScenePlan.model_validate_json(job.plan_json)
    overrides = jobs.job_overrides(services, job_id)
    overrides[ref] = ReferenceOverride(
        prompt=preview.prompt, negative_prompt=preview.negative_prompt, seed=preview.seed, note=preview.note
    )
    change_made = prompt_edits.PromptChange(
        prompt=preview.prompt, negative_prompt=preview.negative_prompt, seed=preview.seed
    )
    prompt_edits.edit_reference(services, plan, ref, change_made, actor=actor)
    return jobs.submit(
        services,
        plan,
        job.duration_seconds,
        overrides,
        concurrency=job.concurrency,
        song_id=job.song_id,
        actor=actor,
    )


def version_diff(reference: ReferenceReview, older: int, newer: int) -> VersionDiff:
    """What changed from version `older` to version `newer` of a reference."""
    by_number = {v.version: v for v in reference.versions}
    for number in (older, newer):
        if number not in by_number:
            raise InvalidInput("version", f"{reference.ref} has no version {number}")
    a, b = by_number[older], by_number[newer]
    return VersionDiff(
        older=older,
        newer=newer,
        prompt=word_diff(a.prompt, b.prompt),
        negative_prompt=word_diff(a.negative_prompt, b.negative_prompt),
        older_seed=a.seed,
        newer_seed=b.seed,
        note=b.note,
    )
