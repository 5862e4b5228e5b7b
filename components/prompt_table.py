"""The editable prompts table: synthesized prompts with a creator's edits, seeds, and CLIP warnings."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from components.identity import actor
from studio.errors import InvalidInput
from studio.generation.seeds import MAX_SEED
from studio.plans.scene_plan import ScenePlan
from studio.prompts import CLIP_USABLE_TOKENS
from studio.prompts.edits import (
    PromptChange,
    PromptRow,
    edit_reference,
    prompt_rows,
    reroll_seed,
    reroll_unlocked,
    reset_reference,
)
from studio.services import Services

_MESSAGES = "prompt-table-messages"
TOKEN_COLOURS = {"fits": "#3DD68C", "over": "#FF6B6B"}
"""Token counts drawn green within SDXL's 75, red over it."""
COLUMN_ORDER = (
    "ref", "tokens", "CLIP", "prompt", "negative prompt", "seed", "lock", "reroll", "reset", "edited"
)  # fmt: skip


def generation(job_id: str) -> int:
    """Counts the edits applied to the job's prompts; editors' keys carry it so they start clean after one."""
    return int(st.session_state.get(f"prompts-generation-{job_id}", 0))


def editor_key(job_id: str) -> str:
    return f"prompts-{job_id}-{generation(job_id)}"


def token_style(count: Any) -> str:
    fit = "over" if int(count) > CLIP_USABLE_TOKENS else "fits"
    return f"color: {TOKEN_COLOURS[fit]}; font-weight: 600"


def _frame(rows: list[PromptRow]) -> Styler:
    frame = pd.DataFrame(
        [
            {
                "ref": row.ref,
                "prompt": row.prompt,
                "negative prompt": row.negative_prompt,
                "seed": row.seed,
                "lock": row.seed_locked,
                "reroll": False,
                "reset": False,
                "tokens": row.token_count,
                "CLIP": "end ignored" if row.truncated_by_clip else "fits",
                "edited": "yes" if row.edited else "",
            }
            for row in rows
        ]
    )
    return frame.style.map(token_style, subset=["tokens"])


def _apply(
    services: Services, plan: ScenePlan, rows: list[PromptRow], changed: dict[Any, dict[str, Any]]
) -> list[str]:
    problems = []
    for index, values in changed.items():
        ref = rows[int(index)].ref
        try:
            if values.get("reset"):
                reset_reference(services, plan, ref, actor=actor())
                continue
            seed = values.get("seed")
            change = PromptChange(
                prompt=values.get("prompt"),
                negative_prompt=values.get("negative prompt"),
                seed=int(seed) if seed is not None else None,
                seed_locked=values.get("lock"),
            )
            edit_reference(services, plan, ref, change, actor=actor())
            if values.get("reroll"):
                reroll_seed(services, plan, ref, actor=actor())
        except InvalidInput as error:
            problems.append(f"**{error.field}**: {error.problem}")
    return problems


def restart(job_id: str) -> None:
    """Rerun with fresh prompt editors, showing the stored values."""
    st.session_state[f"prompts-generation-{job_id}"] = generation(job_id) + 1
    st.rerun()


def prompt_table(services: Services, plan: ScenePlan) -> list[PromptRow]:
    """Show every reference's prompt, negative prompt and seed; store edits apart from synthesis."""
    job_id = str(plan.job_id)
    rows = prompt_rows(services, plan)
    for message in st.session_state.pop(_MESSAGES, []):
        st.error(message)
    cut = [row for row in rows if row.truncated_by_clip]
    if cut:
        names = ", ".join(f"`{row.ref}` ({row.token_count})" for row in cut)
        st.warning(
            f"SDXL's text encoders read {CLIP_USABLE_TOKENS} tokens: "
            f"the end of these prompts is ignored: {names}."
        )
    key = editor_key(job_id)
    st.data_editor(
        _frame(rows),
        key=key,
        hide_index=True,
        column_order=COLUMN_ORDER,
        width="stretch",
        disabled=["ref", "tokens", "CLIP", "edited"],
        column_config={
            "ref": st.column_config.TextColumn("reference", width="medium"),
            "prompt": st.column_config.TextColumn("prompt", width="large"),
            "negative prompt": st.column_config.TextColumn("negative prompt", width="medium"),
            "seed": st.column_config.NumberColumn(
                "seed", min_value=0, max_value=MAX_SEED, step=1, format="%d"
            ),
            "lock": st.column_config.CheckboxColumn("lock", help="Lock the seed: 'reroll unlocked' keeps it"),
            "reroll": st.column_config.CheckboxColumn("reroll", help="Draw a new random seed for this row"),
            "reset": st.column_config.CheckboxColumn(
                "reset", help="Reset to the synthesized prompt and seed"
            ),
            "tokens": st.column_config.NumberColumn(
                "tokens", help=f"CLIP tokens of the prompt: SDXL reads {CLIP_USABLE_TOKENS}", format="%d"
            ),
            "CLIP": st.column_config.TextColumn(
                "CLIP", width="small", help=f"SDXL ignores everything after {CLIP_USABLE_TOKENS} tokens"
            ),
            "edited": st.column_config.TextColumn("edited", width="small", help="Edited by you"),
        },
    )
    state = st.session_state.get(key) or {}
    changed = state.get("edited_rows") or {}
    if changed:
        st.session_state[_MESSAGES] = _apply(services, plan, rows, changed)
        restart(job_id)
    edited = sum(row.edited for row in rows)
    left, right = st.columns([3, 1])
    left.caption(
        f"{len(rows)} references, {edited} edited. Edits are kept apart from the synthesized prompts: "
        "change the plan's style and they stay; tick *reset* to return a row to the synthesized prompt."
    )
    if right.button("Reroll unlocked seeds", icon=":material/casino:", key=f"reroll-all-{job_id}"):
        reroll_unlocked(services, plan, actor=actor())
        restart(job_id)
    return rows
