"""The signing key of a fresh data dir: made once and whole, however many processes start at once."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from studio.backends import signing_key
from studio.settings import Settings

STARTERS = 8


def _start_together(settings: Settings) -> tuple[list[bytes], list[BaseException]]:
    """Every starter asks for the key at the same moment: the keys they got, and what went wrong."""
    start = threading.Barrier(STARTERS)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def one() -> None:
        start.wait()
        try:
            keys.append(signing_key(settings))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return keys, errors


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    """Seen in the two-generates race: one process made the key file, the other read it still empty."""
    for round_ in range(40):
        settings = Settings(data_dir=tmp_path / f"round-{round_}")
        keys, errors = _start_together(settings)
        assert not errors, errors
        assert len(keys) == STARTERS and len(set(keys)) == 1 and len(keys[0]) == 64
        assert stat.S_IMODE((settings.data_dir / "signing.key").stat().st_mode) == 0o600
        assert sorted(p.name for p in settings.data_dir.iterdir()) == ["signing.key"], "no draft is left"
