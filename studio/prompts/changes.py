"""What one text changed from another, word by word: prompt versions, and a creator's edits of an
interrogation."""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import BaseModel


class WordChange(BaseModel):
    text: str
    change: Literal["same", "added", "removed"]


def _words(text: str) -> list[str]:
    return re.findall(r"[^\s,]+|,", text)


def word_diff(older: str, newer: str) -> list[WordChange]:
    """Word by word (commas count as words), what `newer` removed from and added to `older`."""
    before, after = _words(older), _words(newer)
    changes: list[WordChange] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            changes.append(WordChange(text=" ".join(before[a0:a1]), change="same"))
            continue
        if a1 > a0:
            changes.append(WordChange(text=" ".join(before[a0:a1]), change="removed"))
        if b1 > b0:
            changes.append(WordChange(text=" ".join(after[b0:b1]), change="added"))
    return changes
