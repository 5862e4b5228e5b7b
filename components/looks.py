"""Rounds of candidate looks: what the next round asks for (estimate first), and the rounds as one feed,
newest first, under the current pick; each look with "Pick" and "More like this" (one click: a round)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.identity import actor
from components.jobs import status_label
from studio.characters.looks import (
    DEFAULT_LOOKS,
    MAX_LOOKS,
    Look,
    LookRound,
    LooksEstimate,
    LooksListing,
    LooksRequest,
    default_strength,
    estimate,
    list_looks,
    pick_look,
    queue_looks,
)
from studio.errors import InvalidInput, NotFound
from studio.money import usd
from studio.references.gallery import Thumbnail, thumbnails
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET

Thumbnails = dict[str, Thumbnail | None]

POLL_SECONDS = 1.0
PER_ROW = 4


def _show_error(error: InvalidInput | NotFound) -> None:
    st.error(f"**{error.field}**: {error.problem}" if isinstance(error, InvalidInput) else str(error))


def _count(song_id: str) -> int:
    return int(st.session_state.get(f"looks-count-{song_id}", DEFAULT_LOOKS))


def _cost(planned: LooksEstimate) -> str:
    return "free" if planned.total == 0 else f"about {usd(planned.total)}"


def _queue(services: Services, song_id: str, ask: LooksRequest) -> None:
    try:
        queued = queue_looks(services, song_id, ask, actor=actor())
    except (InvalidInput, NotFound) as error:
        _show_error(error)
        return
    start = f" from {ask.from_look}" if ask.from_look else ""
    st.toast(f"Round {queued.round}{start} queued: {len(queued.looks)} looks.")
    st.rerun()


def looks_form(services: Services, song_id: str) -> None:
    """Count and strength of a round from the song's reference, the estimate, and "Generate looks"."""
    count_column, strength_column = st.columns(2)
    count = count_column.slider(
        "Looks in the round", 1, MAX_LOOKS, DEFAULT_LOOKS, key=f"looks-count-{song_id}"
    )
    strength = strength_column.slider(
        "Strength",
        0.0,
        1.0,
        default_strength(services, song_id, None),
        step=0.01,
        key=f"looks-strength-{song_id}-reference",
        help="How far a look may move away from the image it starts from: 0 keeps it, 1 ignores it.",
    )
    ask = LooksRequest(count=int(count), strength=round(float(strength), 2))
    try:
        planned = estimate(services, song_id, ask)
    except (InvalidInput, NotFound) as error:
        _show_error(error)
        return
    free = planned.total == 0
    cost = "free (offline preview)" if free else f"about {usd(planned.total)} ({usd(planned.per_look)} each)"
    st.caption(
        f"Estimate: {planned.count} looks on {planned.provider}{_model_note(planned.model)}, {cost}. "
        f"Prompt: {planned.token_count} / 75 CLIP tokens."
    )
    if st.button("Generate looks", type="primary", icon=":material/casino:", key=f"generate-looks-{song_id}"):
        _queue(services, song_id, ask)


def _round_label(found: LookRound) -> str:
    origin = "consistency job" if found.origin == "consistency" else f"strength {found.strength:g}"
    start = f" · more like {found.parent}" if found.parent else ""
    return f"Round {found.round} · {len(found.looks)} looks · {origin}{start}"


@dataclass(frozen=True)
class _Feed:
    """What every card of the feed needs: the estimate on "More like this" and where rounds came from."""

    more_cost: str | None
    sources: dict[str, list[int]]
    """Look id -> the rounds started from it ("more like this")."""
    newest_source: str | None


def _look_card(services: Services, song_id: str, look: Look, image: bytes | None, feed: _Feed) -> None:
    started = feed.sources.get(look.id)
    if started:
        rounds = ", ".join(str(number) for number in started)
        st.markdown(f":orange-badge[:material/auto_awesome: more like this → round {rounds}]")
    if look.status == "stored" and image is not None:
        st.image(image, caption=look.id, width="stretch")
    elif look.status == "failed":
        st.error(f"{look.id}: {look.error or 'failed'}", icon=":material/error:")
    else:
        st.info(f"{look.id}: making this look…", icon=":material/hourglass_top:")
    picked = "**picked** · " if look.picked else ""
    st.caption(f"{picked}seed {look.seed} · strength {look.strength:g} · {usd(look.cost)}")
    if look.status != "stored" or feed.more_cost is None:
        return
    if st.button(
        "Picked" if look.picked else "Pick",
        key=f"pick-{song_id}-{look.id}",
        type="primary" if look.picked else "secondary",
        icon=":material/check:" if look.picked else None,
        disabled=look.picked,
        width="stretch",
    ):
        try:
            pick_look(services, song_id, look.id, actor=actor())
        except (InvalidInput, NotFound) as error:
            _show_error(error)
            return
        st.toast(f"{look.id} is the song's character image now.")
        st.rerun()
    if st.button(
        f"More like this · {_count(song_id)} looks, {feed.more_cost}",
        key=f"more-{song_id}-{look.id}",
        icon=":material/auto_awesome:",
        width="stretch",
    ):
        _queue(services, song_id, LooksRequest(count=_count(song_id), from_look=look.id))


def _cards(services: Services, song_id: str, found: LookRound, images: Thumbnails, feed: _Feed) -> None:
    for start in range(0, len(found.looks), PER_ROW):
        for column, look in zip(st.columns(PER_ROW), found.looks[start : start + PER_ROW], strict=False):
            with column:
                thumb = images.get(look.key) if look.key else None
                data = thumb.data if thumb else None
                if look.id == feed.newest_source:
                    with st.container(border=True, key=f"source-{song_id}-{look.id}"):
                        _look_card(services, song_id, look, data, feed)
                else:
                    _look_card(services, song_id, look, data, feed)


def _round(services: Services, song_id: str, found: LookRound, images: Thumbnails, feed: _Feed) -> None:
    st.markdown(f"**{_round_label(found)}** · {status_label(found.status)} · {usd(found.cost)}")
    _cards(services, song_id, found, images, feed)
    with st.expander(f"Prompt of round {found.round} · {found.token_count} / 75 CLIP tokens"):
        st.caption(found.prompt)
    if found.error:
        st.caption(f"{status_label(found.status)}: {found.error}")


def _pinned(listing: LooksListing, images: Thumbnails, reference_key: str) -> None:
    """The current pick above the feed, beside the reference it was made from."""
    picked = next((look for found in listing.rounds for look in found.looks if look.picked), None)
    with st.container(border=True, key=f"pinned-{listing.song_id}"):
        columns = st.columns([1, 1, 3])
        reference = images.get(reference_key)
        if reference is not None:
            columns[0].image(reference.data, caption="Reference", width="stretch")
        if picked is None:
            columns[2].markdown("**No look picked yet**")
            columns[2].caption("Pick a look below: it becomes the song's character image.")
            return
        thumb = images.get(picked.key) if picked.key else None
        if thumb is not None:
            columns[1].image(thumb.data, caption=picked.id, width="stretch")
        columns[2].markdown(f"**Current pick: {picked.id}** (round {picked.round})")
        columns[2].caption(f"seed {picked.seed} · strength {picked.strength:g} · {usd(picked.cost)}")


def _more_cost(services: Services, song_id: str, rounds: list[LookRound]) -> str | None:
    """The estimate "More like this" shows, or None when no look of a current round can start one."""
    stored = next((look.id for found in rounds for look in found.looks if look.status == "stored"), None)
    if stored is None:
        return None
    try:
        return _cost(estimate(services, song_id, LooksRequest(count=_count(song_id), from_look=stored)))
    except (InvalidInput, NotFound):
        return None


def _feed(services: Services, song_id: str) -> None:
    listing = list_looks(services, song_id)
    if not listing.rounds:
        st.caption("No looks yet: the consistency job makes the first after a pose-A upload.")
        _follow(services, song_id)
        return
    newest = list(reversed(listing.rounds))
    current = [found for found in newest if not found.archived]
    sources: dict[str, list[int]] = {}
    for found in current:
        if found.parent:
            sources.setdefault(found.parent, []).append(found.round)
    newest_source = next((found.parent for found in current if found.parent), None)
    wanted: list[tuple[str, str | None]] = [(found.reference_key, None) for found in newest[:1]]
    wanted += [(look.key, f"{song_id}:{look.id}") for found in newest for look in found.looks if look.key]
    images = thumbnails(services, wanted, bucket=CHARACTER_BUCKET)
    _pinned(listing, images, newest[0].reference_key)
    feed = _Feed(_more_cost(services, song_id, current), sources, newest_source)
    for found in current:
        _round(services, song_id, found, images, feed)
    archived = [found for found in newest if found.archived]
    if archived:
        with st.expander(f"{len(archived)} archived round(s): the character was replaced since"):
            for found in archived:
                _round(services, song_id, found, images, _Feed(None, {}, None))
    _follow(services, song_id)


def _live_now(services: Services, song_id: str) -> bool:
    """A round is being made, or the consistency job that makes one is still to run."""
    records = services.records
    return records.looks.open_rounds(song_id) > 0 or records.songs.open_job(song_id) is not None


def _follow(services: Services, song_id: str) -> None:
    """Rerun the page when polling should start or stop (an upload's job queued, a round ended)."""
    if _live_now(services, song_id) != bool(st.session_state.get(f"looks-live-{song_id}")):
        st.rerun()


def rounds_browser(services: Services, song_id: str) -> None:
    """The current pick pinned above the song's rounds, one feed newest first, refreshed every second while
    a round or the consistency job is under way."""
    live = _live_now(services, song_id)
    st.session_state[f"looks-live-{song_id}"] = live
    st.fragment(_feed, run_every=POLL_SECONDS if live else None)(services, song_id)


def _model_note(model: str) -> str:
    """The song's character model, when it is not the default SDXL."""
    return "" if model == "sdxl" else f" with {model}"
