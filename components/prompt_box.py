"""A prompt box whose CLIP token count follows the typing: the browser sends the text a moment after each
keystroke (a state value), the studio counts it with the real tokenizer and the count is redrawn beside the
box, which keeps its caret. A `st.text_area` only tells the script on Ctrl+Enter or when it loses focus,
so its count was stale while the creator typed ("79 of 75" for a text of 92)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.prompts import CLIP_USABLE_TOKENS, clip_split, count_tokens

SEND_EVERY_MS = 150
"""While the creator types, the text goes to the studio at most this often (always its newest state, and
once more after the last keystroke); at once when the box loses focus (a click on Save)."""

_JS = (
    """
export default function ({ data, parentElement, setStateValue }) {
  const box = parentElement.querySelector("textarea");
  if (!box.dataset.ready) {
    box.dataset.ready = "1";
    box.value = data.text;
    box.setAttribute("aria-label", data.label);
    box.style.height = data.height + "px";
    let timer = null;
    let last = 0;
    const send = () => {
      clearTimeout(timer);
      timer = null;
      last = Date.now();
      setStateValue("text", box.value);
    };
    box.addEventListener("input", () => {
      if (timer === null) {
        timer = setTimeout(send, Math.max(0, """
    + str(SEND_EVERY_MS)
    + """ - (Date.now() - last)));
      }
    });
    box.addEventListener("change", send);
  }
  parentElement.querySelector(".label").textContent = data.label;
  const count = parentElement.querySelector(".count");
  count.textContent = data.count_text;
  count.dataset.over = data.over ? "true" : "false";
  parentElement.querySelector(".ignored").textContent = data.ignored_text;
}
"""
)

_HTML = """
<label><span class="label"></span><textarea spellcheck="true"></textarea></label>
<div class="count" data-testid="token-count" aria-live="polite"></div>
<div class="ignored"></div>
"""

_CSS = """
label { display: block; font-family: var(--st-font); font-size: 0.875rem; color: var(--st-text-color); }
.label { display: block; margin-bottom: 0.25rem; }
textarea {
  box-sizing: border-box; width: 100%; resize: vertical; padding: 0.5rem 0.75rem;
  font: inherit; font-size: 1rem; line-height: 1.5; color: var(--st-text-color);
  background: var(--st-secondary-background-color); border: 1px solid transparent;
  border-radius: var(--st-base-radius);
}
textarea:focus { outline: none; border-color: var(--st-primary-color); }
.count {
  display: inline-block; margin-top: 0.4rem; padding: 0.1rem 0.5rem; border-radius: 0.5rem;
  font-family: var(--st-font); font-size: 0.875rem; color: #3dd56d; background: rgba(61, 213, 109, 0.15);
}
.count[data-over="true"] { color: #ff6c6c; background: rgba(255, 108, 108, 0.15); }
.ignored { font-family: var(--st-font); font-size: 0.8rem; opacity: 0.7; margin-top: 0.25rem; }
"""

_BOX = st.components.v2.component("reference_studio.prompt_box", html=_HTML, css=_CSS, js=_JS)


def token_words(prompt: str) -> tuple[str, bool, str]:
    """(`62 of 75 tokens · 13 left`, whether it is over, what SDXL ignores in words)."""
    count = count_tokens(prompt)
    left = CLIP_USABLE_TOKENS - count
    if left >= 0:
        return f"{count} of {CLIP_USABLE_TOKENS} tokens · {left} left", False, ""
    return (
        f"{count} of {CLIP_USABLE_TOKENS} tokens · the end is ignored",
        True,
        f"SDXL ignores the end: “…{clip_split(prompt)[1]}”",
    )


def _typed(key: str) -> str | None:
    state: Any = st.session_state.get(key)
    text = state.get("text") if state is not None else None
    return text if isinstance(text, str) else None


def prompt_box(label: str, text: str, *, key: str, height: int = 120) -> str:
    """A prompt box starting at `text`; what is in it now (as last sent by the browser)."""
    current = _typed(key)
    current = text if current is None else current
    count_text, over, ignored = token_words(current)
    _BOX(
        key=key,
        data={
            "label": label,
            "text": text,
            "height": height,
            "count_text": count_text,
            "over": over,
            "ignored_text": ignored,
        },
        default={"text": text},
        on_text_change=lambda: None,
    )
    return current
