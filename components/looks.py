"""Rounds of candidate looks: what the next round asks for (estimate first), and the rounds as a history
compared side by side with the reference, each look with "Pick" and "More like this"."""

from __future__ import annotations

import streamlit as st

from components.identity import actor
from components.jobs import status_label
from studio.characters.looks import (
    DEFAULT_LOOKS,
    MAX_LOOKS,
    Look,
    LookRound,
    LooksRequest,
    default_strength,
    estimate,
    list_looks,
    pick_look,
    queue_looks,
)
from studio.errors import InvalidInput, NotFound
from studio.money import usd
from studio.records.looks import OPEN_STATUSES
from studio.references.gallery import thumbnails
from studio.services import Services
from studio.storage.keys import CHARACTER_BUCKET, look_key

POLL_SECONDS = 1.0
PER_ROW = 4


def _from_key(song_id: str) -> str:
    return f"looks-from-{song_id}"


def _show_error(error: InvalidInput | NotFound) -> None:
    st.error(f"**{error.field}**: {error.problem}" if isinstance(error, InvalidInput) else str(error))


def looks_form(services: Services, song_id: str) -> None:
    """Count, strength and where the round starts from, the estimate, and "Generate looks"."""
    parent = st.session_state.get(_from_key(song_id))
    if parent:
        left, right = st.columns([3, 1])
        left.info(
            f"More like **{parent}**: its image, its prompt and (for the first candidate) its seed, at a "
            "lower strength.",
            icon=":material/auto_awesome:",
        )
        if right.button("Start from the reference", key=f"looks-from-reference-{song_id}"):
            st.session_state.pop(_from_key(song_id), None)
            st.rerun()
    count_column, strength_column = st.columns(2)
    count = count_column.slider(
        "Looks in the round", 1, MAX_LOOKS, DEFAULT_LOOKS, key=f"looks-count-{song_id}"
    )
    strength = strength_column.slider(
        "Strength",
        0.0,
        1.0,
        default_strength(services, song_id, parent or None),
        step=0.01,
        key=f"looks-strength-{song_id}-{parent or 'reference'}",
        help="How far a look may move away from the image it starts from: 0 keeps it, 1 ignores it.",
    )
    ask = LooksRequest(count=int(count), strength=round(float(strength), 2), from_look=parent or None)
    try:
        planned = estimate(services, song_id, ask)
    except (InvalidInput, NotFound) as error:
        _show_error(error)
        return
    free = planned.total == 0
    cost = "free (offline preview)" if free else f"about {usd(planned.total)} ({usd(planned.per_look)} each)"
    st.caption(f"Estimate: {planned.count} looks on {planned.provider}, {cost}.")
    if st.button("Generate looks", type="primary", icon=":material/casino:", key=f"generate-looks-{song_id}"):
        try:
            queued = queue_looks(services, song_id, ask, actor=actor())
        except (InvalidInput, NotFound) as error:
            _show_error(error)
            return
        st.session_state.pop(_from_key(song_id), None)
        st.session_state[f"looks-round-{song_id}"] = queued.round
        st.toast(f"Round {queued.round} queued: {len(queued.looks)} looks.")
        st.rerun()


def _round_label(found: LookRound) -> str:
    """What tells rounds apart in the picker (its status shows beside it: it changes while it runs)."""
    origin = "consistency job" if found.origin == "consistency" else f"strength {found.strength:g}"
    start = f" · from {found.parent}" if found.parent else ""
    archived = " · archived" if found.archived else ""
    return f"Round {found.round} · {len(found.looks)} looks · {origin}{start}{archived}"


def _look_card(services: Services, song_id: str, look: Look, image: bytes | None, archived: bool) -> None:
    if look.status == "stored" and image is not None:
        st.image(image, caption=look.id, width="stretch")
    elif look.status == "failed":
        st.error(f"{look.id}: {look.error or 'failed'}", icon=":material/error:")
    else:
        st.info(f"{look.id}: making this look…", icon=":material/hourglass_top:")
    picked = "**picked** · " if look.picked else ""
    st.caption(f"{picked}seed {look.seed} · strength {look.strength:g} · {usd(look.cost)}")
    if look.status != "stored" or archived:
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
        "More like this", key=f"more-{song_id}-{look.id}", icon=":material/auto_awesome:", width="stretch"
    ):
        st.session_state[_from_key(song_id)] = look.id
        st.rerun()


def _round(services: Services, song_id: str, found: LookRound) -> None:
    parent_key = look_key(song_id, found.parent) if found.parent else None
    wanted: list[tuple[str, str | None]] = [(found.reference_key, None)]
    wanted += [(look.key, f"{song_id}:{look.id}") for look in found.looks if look.key]
    if parent_key:
        wanted.append((parent_key, f"{song_id}:{found.parent}"))
    images = thumbnails(services, wanted, bucket=CHARACTER_BUCKET)
    st.markdown(f"{status_label(found.status)} · {usd(found.cost)}")
    reference, candidates = st.columns([1, PER_ROW])
    with reference:
        for key, title, words in (
            (found.reference_key, "Reference", "what the looks are compared with"),
            (parent_key, f"Started from {found.parent}", "more like this look"),
        ):
            thumb = images.get(key) if key else None
            if thumb is not None:
                st.image(thumb.data, width="stretch")
                st.markdown(f"**{title}**")
                st.caption(words)
    with candidates:
        for start in range(0, len(found.looks), PER_ROW):
            for column, look in zip(st.columns(PER_ROW), found.looks[start : start + PER_ROW], strict=False):
                with column:
                    thumb = images.get(look.key) if look.key else None
                    _look_card(services, song_id, look, thumb.data if thumb else None, found.archived)
    with st.expander(f"Prompt of round {found.round}"):
        st.caption(found.prompt)
    if found.error:
        st.caption(f"{status_label(found.status)}: {found.error}")


def _browser(services: Services, song_id: str) -> None:
    listing = list_looks(services, song_id)
    if not listing.rounds:
        st.caption("No looks yet: the consistency job makes the first after a pose-A upload.")
        return
    rounds = {found.round: found for found in reversed(listing.rounds)}
    chosen = st.session_state.get(f"looks-round-{song_id}")
    numbers = list(rounds)
    shown = st.selectbox(
        "Round",
        numbers,
        index=numbers.index(chosen) if chosen in rounds else 0,
        format_func=lambda number: _round_label(rounds[number]),
        key=f"looks-round-picker-{song_id}-{len(numbers)}-{sum(r.archived for r in listing.rounds)}",
    )
    st.session_state[f"looks-round-{song_id}"] = shown
    _round(services, song_id, rounds[shown])
    if any(found.status in OPEN_STATUSES for found in listing.rounds) != _live(song_id):
        st.rerun()


def _live(song_id: str) -> bool:
    return bool(st.session_state.get(f"looks-live-{song_id}"))


def rounds_browser(services: Services, song_id: str) -> None:
    """The song's rounds, newest first, refreshed every second while one is being made."""
    live = services.records.looks.open_rounds(song_id) > 0
    st.session_state[f"looks-live-{song_id}"] = live
    st.fragment(_browser, run_every=POLL_SECONDS if live else None)(services, song_id)
