"""Rounds of candidate looks of a song's character: asked for (with an estimate first), listed, and picked.

A round makes N candidates (default 4, at most 8), each with its own seed, conditioned on the song's
reference with an adjustable img2img strength; "more like this" starts a round from a look instead (its
image, its prompt, its seed for the first candidate, a lower strength). Rounds run as leased background work
(studio.characters.look_rounds). Picking a stored look of a current round makes it the song's generated image.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from studio.access.roles import Actor, require
from studio.characters.character_models import known_song, song_model
from studio.characters.descriptions import describe
from studio.characters.provenance import look_ref
from studio.costs.estimates import image_price
from studio.errors import InvalidInput, NotFound
from studio.generation.base import DEFAULT_STRENGTH, GenerationRequest, ReferenceImage
from studio.generation.seeds import MAX_SEED, reference_seed
from studio.inputs.text_and_numbers import NumberRange, check_text
from studio.money import from_nanos, plain_decimal, to_nanos
from studio.prompts import count_tokens
from studio.prompts.fitting import fit_prompt
from studio.records.looks import LookRoundRow, LookRow, LookStatus, NewRound, RoundLooks, look_id
from studio.records.objects import ObjectCheck
from studio.records.songs import SongRow
from studio.services import Services
from studio.storage.intact import read_intact
from studio.storage.keys import CHARACTER_BUCKET, check_id, generated_key

NEGATIVE_PROMPT = "blurry, distorted, inconsistent, multiple characters, low quality, artifacts"
WIDTH, HEIGHT = 1024, 1024
MAX_LOOKS = 8
DEFAULT_LOOKS = 4
LOOK_COUNT = NumberRange(1, MAX_LOOKS, "looks", whole=True)
STRENGTH = NumberRange(0, 1, "strength (0 keeps the image it starts from, 1 ignores it)")
MORE_LIKE_THIS = 0.6
"""A round from a look moves this share of the look's own strength away from it: more like it."""
MAX_LOOK_PROMPT_CHARS = 2_000


class Look(BaseModel):
    """One candidate: `character looks --json` lists these."""

    id: str
    round: int
    seed: int
    prompt: str
    strength: float
    parent: str | None
    """The look its round started from, or None: from the song's reference."""
    image_url: str | None
    cost: Decimal
    status: str
    """`pending`, `stored` or `failed`."""
    key: str | None = None
    error: str | None = None
    picked: bool = False
    model: str = ""
    """What made it (SDXL's pinned version, or a catalogued model's name); empty until it is made."""


class LookRound(BaseModel):
    round: int
    status: str
    """`queued`, `running`, `completed`, `partial` (some candidates failed), `failed`, `superseded`."""
    origin: str
    """`consistency` (made after an upload) or `looks` (asked for)."""
    prompt: str
    token_count: int
    strength: float
    parent: str | None
    reference_key: str
    model: str = "sdxl"
    archived: bool
    error: str | None
    created_at: datetime
    cost: Decimal
    looks: list[Look]


class LooksRound(BaseModel):
    """One round as `character looks SONG --json` prints it."""

    song_id: str
    round: int
    status: str
    cost: Decimal
    looks: list[Look]


class LooksListing(BaseModel):
    """`character looks SONG --list --json`: every round (archived ones marked) and the pick."""

    song_id: str
    picked: str | None
    rounds: list[LookRound]


class PickedLook(BaseModel):
    """`character pick --json`: the look now at the song's generated key."""

    song_id: str
    picked: Look
    generated_key: str


@dataclass(frozen=True)
class LooksRequest:
    """What a creator asks for; None means the default (the synthesized prompt, today's strength)."""

    count: int = DEFAULT_LOOKS
    prompt: str | None = None
    strength: float | None = None
    from_look: str | None = None


class LooksEstimate(BaseModel):
    """What a round will ask for and cost, before anything is queued."""

    song_id: str
    count: int
    prompt: str
    token_count: int
    strength: float
    parent: str | None
    provider: str
    model: str = "sdxl"
    per_look: Decimal
    total: Decimal


def check_request(ask: LooksRequest) -> LooksRequest:
    """The request with its numbers and text checked; InvalidInput names the field."""
    LOOK_COUNT.check("count", ask.count)
    if ask.strength is not None:
        STRENGTH.check("strength", ask.strength)
    if ask.prompt is not None and not check_text("prompt", ask.prompt, MAX_LOOK_PROMPT_CHARS).strip():
        raise InvalidInput("prompt", "must not be empty (leave it out to use the synthesized prompt)")
    if ask.from_look is not None:
        check_id("from_look", ask.from_look)
    return ask


def _song(services: Services, song_id: str) -> SongRow:
    return known_song(services, song_id)


def _parent(services: Services, song_id: str, look: str) -> LookRow:
    found = services.records.looks.look(song_id, look)
    if found is None:
        raise NotFound(f"look {look!r} of song {song_id!r}")
    row, round_row = found
    if round_row.archived:
        raise InvalidInput("from_look", f"{look} belongs to an archived round (the character was replaced)")
    if row.status != LookStatus.STORED:
        raise InvalidInput("from_look", f"{look} has no image to start from (it is {row.status})")
    return row


def _seeds(song_id: str, number: int, count: int, first: int | None) -> tuple[int, ...]:
    """Distinct seeds for a round: the parent's first ("more like this"), then one per candidate."""
    seeds = [first] if first is not None else []
    position = len(seeds)
    while len(seeds) < count:
        position += 1
        seed = reference_seed(f"song:{song_id}", look_ref(look_id(number, position)))
        while seed in seeds:
            seed = (seed + 1) % (MAX_SEED + 1)
        seeds.append(seed)
    return tuple(seeds)


def _default_strength(parent: LookRow | None) -> float:
    return round(parent.strength * MORE_LIKE_THIS, 2) if parent is not None else DEFAULT_STRENGTH


def default_strength(services: Services, song_id: str, from_look: str | None) -> float:
    """The strength a round gets when none is asked for: today's, or less than the look it starts from."""
    if from_look is None:
        return DEFAULT_STRENGTH
    found = services.records.looks.look(song_id, from_look)
    return _default_strength(found[0] if found is not None else None)


def plan_round(services: Services, song_id: str, ask: LooksRequest) -> NewRound:
    """The round `ask` makes for the song now; InvalidInput or NotFound (nothing written) when it cannot."""
    check_request(ask)
    song = _song(services, song_id)
    reference = song.character_reference_key
    if reference is None:
        raise InvalidInput(
            "song_id", f"{song_id!r} has no reference image: upload pose A or apply a template"
        )
    parent = _parent(services, song_id, ask.from_look) if ask.from_look is not None else None
    prompt = ask.prompt.strip() if ask.prompt is not None else None
    if prompt is None and parent is not None:
        prompt = parent.prompt
    if prompt is None:
        description = describe(services, song_id)
        if description is None:
            raise InvalidInput(
                "prompt",
                f"{song_id!r} has no interrogation yet (the consistency job has not run): give a prompt",
            )
        prompt = description.consistent_prompt
    prompt = fit_prompt(prompt).prompt
    strength = ask.strength if ask.strength is not None else _default_strength(parent)
    number = services.records.looks.next_number(song_id)
    model = song_model(song)
    sample = _request(song_id, "budget", 0, prompt, NEGATIVE_PROMPT, strength, model=model)
    calls = ask.count * services.settings.retry_attempts
    return NewRound(
        song_id=song_id,
        origin="looks",
        prompt=prompt,
        negative_prompt=parent.negative_prompt if parent is not None else NEGATIVE_PROMPT,
        strength=strength,
        seeds=_seeds(song_id, number, ask.count, parent.seed if parent is not None else None),
        init_key=(parent.storage_key or "") if parent is not None else reference,
        reference_key=reference,
        parent=parent.id if parent is not None else None,
        budget_nanos=to_nanos(services.generator.max_cost(sample) * calls),
        model=model,
    )


def _request(
    song_id: str, name: str, seed: int, prompt: str, negative_prompt: str, strength: float,
    init_image: bytes | None = None, model: str = "sdxl", references: tuple[ReferenceImage, ...] = (),
) -> GenerationRequest:  # fmt: skip
    return GenerationRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed,
        kind="character",
        subject=prompt,
        width=WIDTH,
        height=HEIGHT,
        init_image=init_image,
        strength=strength,
        label=f"song:{song_id}:{name}",
        model=model,
        references=references,
    )


def request_for(
    look: LookRow,
    init_image: bytes | None = None,
    model: str = "sdxl",
    references: tuple[ReferenceImage, ...] = (),
) -> GenerationRequest:
    """What the generator is asked for one candidate (its subject is the prompt: the preview draws it): SDXL
    img2img from `init_image`, or a conditioned model given the song's `references`."""
    return _request(
        look.song_id, look.id, look.seed, look.prompt, look.negative_prompt, look.strength,
        init_image if not references else None, model, references,
    )  # fmt: skip


def estimate(services: Services, song_id: str, ask: LooksRequest) -> LooksEstimate:
    """What a round would ask for and usually cost; nothing is written."""
    planned = plan_round(services, song_id, ask)
    sample = _request(
        song_id, "estimate", planned.seeds[0], planned.prompt, planned.negative_prompt, planned.strength,
        model=planned.model,
    )  # fmt: skip
    per_look = image_price(services)(sample)
    return LooksEstimate(
        song_id=song_id,
        count=len(planned.seeds),
        prompt=planned.prompt,
        token_count=count_tokens(planned.prompt),
        strength=planned.strength,
        parent=planned.parent,
        provider=services.generator.name,
        model=planned.model,
        per_look=per_look,
        total=per_look * len(planned.seeds),
    )


def queue_looks(
    services: Services, song_id: str, ask: LooksRequest, *, actor: Actor | None = None
) -> LookRound:
    """Queue a round; the worker or the app's background runner makes its looks. Only creators spend."""
    require(actor, "create")
    queued = services.records.looks.create_round(plan_round(services, song_id, ask))
    return round_view(services, queued, None)


def _look(services: Services, row: LookRow, number: int, picked: str | None) -> Look:
    url = None
    if row.status == LookStatus.STORED and row.storage_key:
        url = services.storage.signed_url(CHARACTER_BUCKET, row.storage_key, services.settings.signed_url_ttl)
    return Look(
        id=row.id,
        round=number,
        seed=row.seed,
        prompt=row.prompt,
        strength=row.strength,
        parent=row.parent,
        image_url=url,
        cost=Decimal(plain_decimal(from_nanos(row.cost_nanos))),
        status=row.status,
        key=row.storage_key,
        error=row.error,
        picked=row.id == picked,
        model=row.model_version,
    )


def round_view(services: Services, found: RoundLooks, picked: str | None) -> LookRound:
    row: LookRoundRow = found.round
    looks = [_look(services, look, row.number, picked) for look in found.looks]
    return LookRound(
        round=row.number,
        status=found.status,
        origin=row.origin,
        prompt=row.prompt,
        token_count=count_tokens(row.prompt),
        strength=row.strength,
        parent=row.parent,
        reference_key=row.reference_key,
        model=row.model,
        archived=row.archived,
        error=row.error,
        created_at=row.created_at,
        cost=sum((look.cost for look in looks), Decimal("0")),
        looks=looks,
    )


def as_result(song_id: str, view: LookRound) -> LooksRound:
    return LooksRound(song_id=song_id, round=view.round, status=view.status, cost=view.cost, looks=view.looks)


def list_looks(services: Services, song_id: str) -> LooksListing:
    """The song's rounds, oldest first (archived ones marked), and the picked look."""
    song = _song(services, song_id)
    picked = song.character_look_id
    rounds = [round_view(services, found, picked) for found in services.records.looks.rounds(song_id)]
    return LooksListing(song_id=song_id, picked=picked, rounds=rounds)


def pick_look(services: Services, song_id: str, look: str, *, actor: Actor | None = None) -> PickedLook:
    """Make a stored look of a current round the song's generated image (priority 1); nothing is recorded
    when the song or look is unknown, the look has no image, or its round was archived. Only creators pick."""
    require(actor, "create")
    _song(services, song_id)
    check_id("look_id", look)
    found = services.records.looks.look(song_id, look)
    if found is None:
        raise NotFound(f"look {look!r} of song {song_id!r}")
    row, round_row = found
    if row.status != LookStatus.STORED or row.storage_key is None:
        raise InvalidInput("look_id", f"{look} has no image to pick (it is {row.status})")
    if round_row.archived:
        raise InvalidInput(
            "look_id", f"{look} belongs to an archived round (the song's character was replaced since)"
        )
    data = read_intact(
        services,
        CHARACTER_BUCKET,
        row.storage_key,
        f"the image of look {look}",
        "generate another round of looks (Characters page, or `python -m studio character looks`) and pick "
        "from it",
    )
    publish(services, song_id, look, data, by_creator=True)
    return PickedLook(
        song_id=song_id,
        picked=_look(services, row, round_row.number, look),
        generated_key=generated_key(song_id),
    )


def publish(services: Services, song_id: str, look: str, data: bytes, *, by_creator: bool) -> bool:
    """Copy a look's image to the song's generated key, then record it as the pick (store, then record).

    The consistency job's image (`by_creator` False) never replaces a look the creator picked: when the
    records keep the creator's pick, the generated key gets that look's image back. Whether the look is the
    pick now; NotFound or InvalidInput (nothing recorded) when it cannot be picked.
    """
    records, storage = services.records, services.storage
    key = generated_key(song_id)
    storage.put(CHARACTER_BUCKET, key, data, "image/png")
    try:
        picked = records.looks.pick(
            song_id, look, ObjectCheck.of(data), unless_picked_by_creator=not by_creator
        )
    except (NotFound, InvalidInput):
        _restore(services, song_id)
        raise
    if picked is None:
        _restore(services, song_id)
    return picked is not None


def _restore(services: Services, song_id: str) -> None:
    """The generated key holds the picked look's image again (a publish the records refused overwrote it)."""
    current = services.records.looks.picked_look(song_id)
    if current is not None and current.storage_key:
        data = services.storage.get(CHARACTER_BUCKET, current.storage_key)
        services.storage.put(CHARACTER_BUCKET, generated_key(song_id), data, "image/png")


async def publish_pick(services: Services, song_id: str, look: str, data: bytes, *, by_creator: bool) -> bool:
    """`publish`, off the event loop."""
    return await asyncio.to_thread(publish, services, song_id, look, data, by_creator=by_creator)
