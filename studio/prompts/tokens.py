"""CLIP token counting: SDXL's text encoders read 77 tokens (75 of text), so prompts report their count.

The algorithm of openai/CLIP's simple_tokenizer over the shipped merges file, preprocessing included:
`ftfy.fix_text` (curly quotes, ligatures, full-width letters, mojibake), HTML unescaped twice, whitespace
collapsed, lowercase; then byte-level BPE with `</w>` word ends. Without ftfy, `don’t stop` counts 5 tokens
where SDXL's encoders see 3.
"""

from __future__ import annotations

import gzip
import html
import re
from functools import cache, lru_cache
from pathlib import Path

import ftfy
import regex

CLIP_TOKEN_LIMIT = 77
"""Context length of CLIP's text encoder, start and end tokens included."""
CLIP_USABLE_TOKENS = CLIP_TOKEN_LIMIT - 2

_VOCAB_PATH = Path(__file__).with_name("data") / "bpe_simple_vocab_16e6.txt.gz"
_MERGE_COUNT = 49152 - 256 - 2
_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_CACHE_LIMIT = 100_000
_WHITESPACE = regex.compile(r"\s+")


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible map from bytes to printable characters, so BPE never sees whitespace or controls."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {byte: chr(code) for byte, code in zip(printable, codes, strict=True)}


class ClipTokenizer:
    """Byte-level BPE with CLIP's merges; `encode` gives token ids without the start/end tokens."""

    def __init__(self, vocab_path: Path = _VOCAB_PATH) -> None:
        lines = gzip.decompress(vocab_path.read_bytes()).decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _MERGE_COUNT + 1]]
        self._byte_encoder = _bytes_to_unicode()
        symbols = list(self._byte_encoder.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = {piece: index for index, piece in enumerate(vocab)}
        self._ranks: dict[tuple[str, ...], int] = {merge: rank for rank, merge in enumerate(merges)}
        self._cache: dict[str, tuple[str, ...]] = {
            "<|startoftext|>": ("<|startoftext|>",),
            "<|endoftext|>": ("<|endoftext|>",),
        }

    def bpe(self, word: str) -> tuple[str, ...]:
        """The BPE pieces of one pre-tokenised word (already byte-encoded)."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts: list[str] = [*word[:-1], word[-1] + "</w>"]
        ranks = self._ranks
        while len(parts) > 1:
            best_rank = None
            best = 0
            for index in range(len(parts) - 1):
                rank = ranks.get((parts[index], parts[index + 1]))
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best = rank, index
            if best_rank is None:
                break
            first, second = parts[best], parts[best + 1]
            merged: list[str] = []
            index = 0
            while index < len(parts):
                if index < len(parts) - 1 and parts[index] == first and parts[index + 1] == second:
                    merged.append(first + second)
                    index += 2
                else:
                    merged.append(parts[index])
                    index += 1
            parts = merged
        result = tuple(parts)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = result
        return result

    def pieces(self, text: str) -> list[str]:
        """The BPE pieces of `text`, in order, as CLIP's encoder sees them."""
        out: list[str] = []
        for word in _PATTERN.findall(clean(text)):
            encoded = "".join(self._byte_encoder[b] for b in word.encode("utf-8"))
            out.extend(self.bpe(encoded))
        return out

    def encode(self, text: str) -> list[int]:
        return [self.encoder[piece] for piece in self.pieces(text)]


def clean(text: str) -> str:
    """CLIP's text clean-up, exactly: ftfy, unescape HTML twice, collapse whitespace, lowercase.

    Printable ASCII without `&` is what ftfy and unescaping leave as it is: it skips them (ftfy is slow).
    """
    if not _PLAIN.fullmatch(text):
        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    text = text.strip()
    collapsed: str = _WHITESPACE.sub(" ", text)
    return collapsed.strip().lower()


_PLAIN = re.compile(r"[ -%'-~\t\n]*")
"""Printable ASCII (no `&`), tabs and newlines."""


@cache
def clip_tokenizer() -> ClipTokenizer:
    """The tokenizer, loaded once on first use (the merges file takes ~0.1 s to read)."""
    return ClipTokenizer()


@lru_cache(maxsize=8192)
def count_tokens(text: str) -> int:
    """CLIP tokens of `text`, excluding the start and end tokens; more than 75 are cut by the encoder."""
    return len(clip_tokenizer().pieces(text))


def clip_visible(text: str, limit: int = CLIP_USABLE_TOKENS) -> str:
    """The cleaned text CLIP actually reads (its first `limit` tokens), to show where the cut falls."""
    decoder = {char: byte for byte, char in _bytes_to_unicode().items()}
    joined = "".join(clip_tokenizer().pieces(text)[:limit]).replace("</w>", " ")
    raw = bytes(32 if char == " " else decoder[char] for char in joined)
    return raw.decode("utf-8", errors="replace").strip()


def clip_split(text: str, limit: int = CLIP_USABLE_TOKENS) -> tuple[str, str]:
    """`text` cut after the last whole word CLIP reads: (what SDXL reads, what it ignores)."""
    words = text.split(" ")
    low, high = 0, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(" ".join(words[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]), " ".join(words[low:])
