"""The editable prompts table: synthesized prompts with a creator's edits, seeds, and CLIP warnings."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from studio.errors import InvalidInput
from studio.plan import ScenePlan
from studio.prompt_edits import (
    PromptChange,
    PromptRow,
    edit_reference,
    prompt_rows,
    reroll_seed,
    reroll_unlocked,
    reset_reference,
)
from studio.prompts import CLIP_USABLE_TOKENS
from studio.seeding import MAX_SEED
from studio.services import Services

_MESSAGES = "prompt-table-messages"


def editor_key(job_id: str) -> str:
    """The data editor's widget key; it changes after each applied edit so the table starts clean."""
    return f"prompts-{job_id}-{st.session_state.get(f'prompts-generation-{job_id}', 0)}"


def _frame(rows: list[PromptRow]) -> pd.DataFrame:
    return pd.DataFrame(
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
                "CLIP": f"⚠ cut after {CLIP_USABLE_TOKENS}" if row.truncated_by_clip else "ok",
                "edited": "yes" if row.edited else "",
            }
            for row in rows
        ]
    )


def _apply(
    studio: Services, plan: ScenePlan, rows: list[PromptRow], changed: dict[Any, dict[str, Any]]
) -> list[str]:
    problems = []
    for index, values in changed.items():
        ref = rows[int(index)].ref
        try:
            if values.get("reset"):
                reset_reference(studio, plan, ref)
                continue
            seed = values.get("seed")
            change = PromptChange(
                prompt=values.get("prompt"),
                negative_prompt=values.get("negative prompt"),
                seed=int(seed) if seed is not None else None,
                seed_locked=values.get("lock"),
            )
            edit_reference(studio, plan, ref, change)
            if values.get("reroll"):
                reroll_seed(studio, plan, ref)
        except InvalidInput as error:
            problems.append(f"**{error.field}**: {error.problem}")
    return problems


def _restart(job_id: str) -> None:
    generation = f"prompts-generation-{job_id}"
    st.session_state[generation] = st.session_state.get(generation, 0) + 1
    st.rerun()


def prompt_table(studio: Services, plan: ScenePlan) -> None:
    """Show every reference's prompt, negative prompt and seed; store edits apart from synthesis."""
    job_id = str(plan.job_id)
    rows = prompt_rows(studio, plan)
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
        width="stretch",
        disabled=["ref", "tokens", "CLIP", "edited"],
        column_config={
            "ref": st.column_config.TextColumn("reference", width="small"),
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
            "tokens": st.column_config.NumberColumn("tokens", help="CLIP tokens of the prompt (75 are read)"),
            "CLIP": st.column_config.TextColumn("CLIP", width="small"),
            "edited": st.column_config.TextColumn("edited", width="small", help="Edited by you"),
        },
    )
    state = st.session_state.get(key) or {}
    changed = state.get("edited_rows") or {}
    if changed:
        st.session_state[_MESSAGES] = _apply(studio, plan, rows, changed)
        _restart(job_id)
    edited = sum(row.edited for row in rows)
    left, right = st.columns([3, 1])
    left.caption(
        f"{len(rows)} references, {edited} edited. Edits are kept apart from the synthesized prompts: "
        "change the plan's style and they stay; tick *reset* to return a row to the synthesized prompt."
    )
    if right.button("Reroll unlocked seeds", icon=":material/casino:", key=f"reroll-all-{job_id}"):
        reroll_unlocked(studio, plan)
        _restart(job_id)
