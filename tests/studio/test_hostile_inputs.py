"""Hostile inputs and broken environments through the real CLI: each is refused with its exit code and a
clear message, writes nothing, and never prints a traceback, on SQLite and on PostgreSQL.

One row, one `python -m studio` process. Every test starts from its own copy of a studio that already holds a
song with a character and an approved job (seeded once per backend and test worker: the data dir is copied,
a PostgreSQL database is copied from a seeded template), so "nothing written" means: the same files with the
same bytes, and the same rows in every table. To add a case, add a `Hostile` row (environment rows live in
tests/studio/hostile_environments.py); an input file it needs is an `Input("name")` in its arguments, made by
the builder of that name in `INPUTS`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import studio
from tests.servers.postgres import PostgresServer
from tests.studio.characters import samples
from tests.studio.hostile import (
    ONCE,
    SEEDED_JOB,
    SEEDED_SONG,
    Hostile,
    Input,
    Studio,
    copy_database,
    seed,
    snapshot,
)
from tests.studio.hostile_environments import ENVIRONMENT_ROWS

HOSTILE_JOB = "00000000-0000-4000-8000-0000000000ee"


def early(*args: Any, **fields: Any) -> Hostile:
    """A row refused before the records are opened (arguments, settings, the input file read and checked):
    it runs on one backend, as the other cannot change what it does."""
    return Hostile(*args, backends=ONCE, **fields)


def _plan(change: Callable[[dict[str, Any]], object] | None = None) -> bytes:
    """A valid plan (scenes, characters, clips, a transition) with one hostile change applied."""
    plan: dict[str, Any] = {
        "job_id": HOSTILE_JOB,
        "video_summary": "A runner crosses the city at night.",
        "characters": [{"id": "runner", "description": "Tall man in a black rain jacket"}],
        "scenes": [
            {"id": "alley", "description": "Narrow wet alley with neon signs", "time_of_day": "night"},
            {"id": "subway", "description": "Empty subway platform", "time_of_day": "midnight"},
        ],
        "style": {"color_palette": ["#FF2E88"], "visual_style": "neo-noir", "mood": "tense"},
        "clip_scripts": [
            {"clip_index": 0, "start": 0.0, "end": 4.5, "visual_description": "Runner bursts in"},
            {"clip_index": 1, "start": 4.5, "end": 9.0, "visual_description": "Train arrives"},
        ],
        "transitions": [{"from_clip": 0, "to_clip": 1, "type": "cut", "duration": 0.0}],
    }
    plan = copy.deepcopy(plan)
    if change is not None:
        change(plan)
    return json.dumps(plan, ensure_ascii=False).encode()


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A change that sets `scenes.0.description`-style `path` to `value`."""

    def change(plan: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = plan
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def _many(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(plan: dict[str, Any]) -> None:
        for one in changes:
            one(plan)

    return change


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _write(data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data() if callable(data) else data)


def _deep_plan() -> bytes:
    depth = 100_000
    return b'{"job_id": "' + HOSTILE_JOB.encode() + b'", "characters": ' + b"[" * depth + b"]" * depth + b"}"


INPUTS: dict[str, Callable[[Path], None]] = {
    "plan.json": _write(_plan()),
    "fifo": _fifo,
    "folder": lambda path: path.mkdir(),
    "huge-plan.json": _write(lambda: b" " * (5 * 1024 * 1024 + 1)),
    "huge-image.png": _write(lambda: samples.png() + b"\0" * (20 * 1024 * 1024)),
    "deep.json": _write(_deep_plan),
    "not-json.json": _write(b"{not json"),
    "empty.json": _write(b""),
    "array.json": _write(b"[1, 2, 3]"),
    "latin1.json": _write(_plan(_set("video_summary", "caf\u00e9")).decode().encode("latin-1")),
    "nul-description.json": _write(_plan(_set("scenes.0.description", "a quiet\u0000street"))),
    "raw-nul.json": _write(_plan().replace(b"Narrow wet", b"Narrow\0wet")),
    "bell-summary.json": _write(_plan(_set("video_summary", "ring \u0007 ring"))),
    "surrogate.json": _write(_plan().replace(b"Empty subway", b"Empty \\ud800 subway")),
    "long-word.json": _write(_plan(_set("characters.0.description", "a" * 400_000))),
    "long-text.json": _write(_plan(_set("scenes.1.description", "word " * 5_000))),
    "long-name.json": _write(_plan(_set("characters.0.name", "n" * 1_000))),
    "nul-feature.json": _write(_plan(_set("characters.0.features", {"hair": "silver\u0000"}))),
    "nested-feature.json": _write(_plan(_set("characters.0.features", {"scar": {"deep": [1, 2]}}))),
    "negative-start.json": _write(_plan(_set("clip_scripts.0.start", -1.0))),
    "nan-end.json": _write(_plan().replace(b'"end": 9.0', b'"end": NaN')),
    "infinite-end.json": _write(_plan().replace(b'"end": 9.0', b'"end": 1e999')),
    "end-before-start.json": _write(_plan(_set("clip_scripts.1.end", 2.0))),
    "negative-transition.json": _write(_plan(_set("transitions.0.duration", -0.5))),
    "nan-transition.json": _write(_plan().replace(b'"duration": 0.0', b'"duration": NaN')),
    "many-problems.json": _write(
        _plan(
            _many(
                _set("scenes.0.description", " "),
                _set("scenes.1.id", "../etc"),
                _set("characters.0.description", "x\u0000"),
                _set("clip_scripts.0.end", -3),
            )
        )
    ),
    "traversal-scene.json": _write(_plan(_set("scenes.0.id", "../x"))),
    "dash-scene.json": _write(_plan(_set("scenes.0.id", "-x"))),
    "image.png": _write(samples.png),
    "bomb.png": _write(lambda: samples.png_claiming(20_000, 20_000)),
    "oversized.png": _write(lambda: samples.png_claiming(10_000, 5_000)),
    "text.png": _write(b"just some text, not an image"),
    "animated.gif": _write(samples.animated_gif),
    "truncated.png": _write(lambda: samples.truncated(samples.noisy_png())),
}

UPLOAD = ("character", "upload", SEEDED_SONG)
SECRET = "r8_s\u00e9cret-token"

INPUT_ROWS: list[Hostile] = [
    # Reads are bounded: devices and pipes are refused before reading, sizes are checked while reading.
    early(
        "generate-dev-zero", ("generate", "/dev/zero"), 2, "PLAN: cannot read /dev/zero: it is not a regular"
    ),
    early("generate-fifo", ("generate", Input("fifo")), 2, "not a regular file"),
    early("generate-folder", ("generate", Input("folder")), 2, "is a folder"),
    early("generate-missing", ("generate", "/nonexistent/plan.json"), 2, "does not exist"),
    early("generate-huge-plan", ("generate", Input("huge-plan.json")), 2, "at most 5 MB are allowed"),
    early("upload-dev-zero", (*UPLOAD, "/dev/zero"), 2, "image: cannot read /dev/zero: it is not a regular"),
    early("upload-fifo", (*UPLOAD, Input("fifo")), 2, "not a regular file"),
    early("upload-huge-image", (*UPLOAD, Input("huge-image.png")), 2, "at most 20 MB are allowed"),
    early("interrogate-dev-zero", ("interrogate", "/dev/zero"), 2, "cannot read /dev/zero: it is not a"),
    early("interrogate-fifo", ("interrogate", Input("fifo")), 2, "not a regular file"),
    early("interrogate-huge-image", ("interrogate", Input("huge-image.png")), 2, "at most 20 MB"),
    early("interrogate-missing", ("interrogate", "/nonexistent.png"), 2, "does not exist"),
    # Numbers are finite and in range, and the message names the flag (argparse: one backend).
    *[
        early(
            f"duration-{value}",
            ("generate", Input("plan.json"), "--duration-seconds", value),
            2,
            "argument --duration-seconds: must be a number of seconds",
        )
        for value in ("nan", "inf", "1e308", "-1", "0", "86400", "ten")
    ],
    early(
        "duration--inf",
        ("generate", Input("plan.json"), "--duration-seconds", "-inf"),
        2,
        "argument --duration-seconds: expected one argument",
    ),
    *[
        early(
            f"concurrency-{value}",
            ("generate", Input("plan.json"), "--concurrency", value),
            2,
            "argument --concurrency: must be a whole number of images in flight",
        )
        for value in ("0", "-1", "1e3", "nan", "1.5", "100000")
    ],
    *[
        early(
            f"poll-{value}",
            ("worker", "--poll", value),
            2,
            "argument --poll: must be a number of seconds",
        )
        for value in ("nan", "inf", "0", "-1", "1e308")
    ],
    # Plans: what cannot be parsed, stored or rendered is refused with the field named.
    early("plan-deep-nesting", ("generate", Input("deep.json")), 2, "plan: is nested more than"),
    early("plan-not-json", ("generate", Input("not-json.json")), 2, "plan: is not valid JSON"),
    early("plan-empty", ("generate", Input("empty.json")), 2, "plan: is not valid JSON"),
    early("plan-array", ("generate", Input("array.json")), 2, "plan: must be a JSON object"),
    early("plan-latin1", ("generate", Input("latin1.json")), 2, "plan: is not UTF-8 text"),
    early(
        "plan-nul",
        ("generate", Input("nul-description.json")),
        2,
        "scenes[0].description: contains a control character U+0000",
    ),
    early("plan-raw-nul", ("generate", Input("raw-nul.json")), 2, "plan: is not valid JSON (Invalid"),
    early("plan-bell", ("generate", Input("bell-summary.json")), 2, "video_summary: contains a control"),
    early(
        "plan-surrogate", ("generate", Input("surrogate.json")), 2, "scenes[1].description: contains a broken"
    ),
    early(
        "plan-long-word",
        ("generate", Input("long-word.json")),
        2,
        "characters[0].description: is 400,000 characters long",
    ),
    early("plan-long-text", ("generate", Input("long-text.json")), 2, "scenes[1].description: is 25,000"),
    early("plan-long-name", ("generate", Input("long-name.json")), 2, "characters[0].name: is 1,000"),
    early("plan-nul-feature", ("generate", Input("nul-feature.json")), 2, "characters[0].features.hair"),
    early(
        "plan-nested-feature",
        ("generate", Input("nested-feature.json")),
        2,
        "characters[0].features.scar: must be text",
    ),
    early(
        "plan-negative-start",
        ("generate", Input("negative-start.json")),
        2,
        "clip_scripts[0].start: must be at least 0",
    ),
    early("plan-nan-end", ("generate", Input("nan-end.json")), 2, "clip_scripts[1].end: must be a finite"),
    early("plan-infinite-end", ("generate", Input("infinite-end.json")), 2, "clip_scripts[1].end: must be a"),
    early(
        "plan-end-before-start",
        ("generate", Input("end-before-start.json")),
        2,
        "clip_scripts[1].end: ends at 2 s, before its start at 4.5 s",
    ),
    early(
        "plan-negative-transition",
        ("generate", Input("negative-transition.json")),
        2,
        "transitions[0].duration: must be at least 0",
    ),
    early(
        "plan-nan-transition",
        ("generate", Input("nan-transition.json")),
        2,
        "transitions[0].duration: must be a finite",
    ),
    early(
        "plan-every-problem-at-once",
        ("generate", Input("many-problems.json")),
        2,
        "plan: has 4 problems",
        also_says=(
            "scenes[0].description: must not be empty",
            "scenes[1].id:",
            "characters[0].description: contains a control character",
            "clip_scripts[0].end: must be at least 0",
        ),
    ),
    early("plan-traversal-id", ("generate", Input("traversal-scene.json")), 2, "scenes[0].id"),
    early(
        "plan-dash-id",
        ("generate", Input("dash-scene.json")),
        2,
        "scenes[0].id: not a safe storage-key segment: '-x' must start with a letter or digit",
    ),
    # Ids: letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters.
    early("upload-traversal-song", ("character", "upload", "../x", Input("image.png")), 2, "song_id"),
    early(
        "upload-dash-song",
        ("character", "upload", "-x", Input("image.png")),
        2,
        "'-x' is not an option of this command, and not an id",
    ),
    early(
        "upload-dash-song-after-double-dash",
        ("character", "upload", "--", "-x", Input("image.png")),
        2,
        "song_id: '-x' must start with a letter or digit",
    ),
    early(
        "upload-long-song",
        ("character", "upload", "s" * 65, Input("image.png")),
        2,
        "song_id: is 65 characters long",
    ),
    early("resolve-dash-song", ("character", "resolve", "-x"), 2, "'-x' is not an option"),
    Hostile("resolve-traversal-song", ("character", "resolve", "../x"), 2, "song_id"),
    early("template-dash-song", ("character", "template", "-x", "character-1"), 2, "'-x' is not an option"),
    early("generate-dash-song", ("character", "generate", "-x"), 2, "'-x' is not an option"),
    early("consistency-dash-song", ("character", "consistency", "-x", "on"), 2, "'-x' is not an option"),
    early("consistency-traversal", ("character", "consistency", "..", "off"), 2, "song_id"),
    early("costs-dash-job", ("costs", "-x"), 2, "'-x' is not an option"),
    early("export-dash-job", ("export", "-x"), 2, "'-x' is not an option"),
    early("review-dash-job", ("review", "-x", "--approve", "scene_alley"), 2, "'-x' is not an option"),
    Hostile("costs-traversal-job", ("costs", "../../etc"), 2, "job"),
    Hostile("review-bad-ref", ("review", SEEDED_JOB, "--approve", "scene_../x"), 2, "reference"),
    Hostile(
        "review-reason-control-character",
        ("review", SEEDED_JOB, "--reject", "scene_rooftop", "--reason", "too dark\u0007"),
        2,
        "reason: contains a control character U+0007",
    ),
    Hostile(
        "review-reviewer-too-long",
        ("review", SEEDED_JOB, "--approve", "scene_rooftop", "--reviewer", "r" * 81),
        2,
        "reviewer: is 81 characters long",
    ),
    Hostile("template-unknown", ("character", "template", SEEDED_SONG, "character-9"), 2, "template_id"),
    Hostile(
        "describe-empty",
        ("character", "describe", SEEDED_SONG, "--style", "ink", "--description", "  "),
        2,
        "character_description: must not be empty",
    ),
    Hostile(
        "describe-control",
        ("character", "describe", SEEDED_SONG, "--prompt", "a coat\u0000"),
        2,
        "prompt: contains",
    ),
    Hostile("describe-unknown-song", ("character", "describe", "no-song", "--reset"), 2, "song 'no-song'"),
    # Character images: decided by their bytes, bombs refused before decoding.
    Hostile("upload-bomb", (*UPLOAD, Input("bomb.png")), 2, "image: is larger than 40 megapixels"),
    Hostile(
        "upload-oversized", (*UPLOAD, Input("oversized.png")), 2, "image: is 10000x5000 (50.0 megapixels)"
    ),
    Hostile(
        "upload-not-an-image", (*UPLOAD, Input("text.png")), 2, "image: is not a PNG, JPEG or WebP image"
    ),
    Hostile("upload-animated", (*UPLOAD, Input("animated.gif")), 2, "image: is a GIF image"),
    Hostile("upload-truncated", (*UPLOAD, Input("truncated.png")), 2, "image: is truncated or corrupt"),
    early("upload-bad-pose", (*UPLOAD, Input("image.png"), "--pose", "C"), 2, "pose: 'C' is not A or B"),
    early("interrogate-bomb", ("interrogate", Input("bomb.png")), 2, "is larger than 40 megapixels"),
    early("interrogate-not-an-image", ("interrogate", Input("text.png")), 2, "is not a PNG, JPEG or WebP"),
    # Secrets: plain printable ASCII, named, never echoed.
    *[
        early(
            f"non-ascii-{name}",
            ("templates",),
            2,
            f"{name}: must be printable ASCII",
            never_says=(SECRET, "s\u00e9cret"),
            env={name: SECRET},
        )
        for name in ("REPLICATE_API_TOKEN", "OPENAI_API_KEY", "SUPABASE_KEY", "STUDIO_SIGNING_KEY")
    ],
    early(
        "space-in-token",
        ("templates",),
        2,
        "REPLICATE_API_TOKEN: must be printable ASCII",
        never_says=("r8_abc def",),
        env={"REPLICATE_API_TOKEN": "r8_abc def"},
    ),
    early(
        "infinite-timeout", ("templates",), 2, "REFERENCE_GEN_TIMEOUT", env={"REFERENCE_GEN_TIMEOUT": "inf"}
    ),
    early("nan-lease", ("templates",), 2, "STUDIO_LEASE_SECONDS", env={"STUDIO_LEASE_SECONDS": "nan"}),
]


ROWS = INPUT_ROWS + ENVIRONMENT_ROWS
CASES = [
    pytest.param(
        row, backend, id=f"{backend}-{row.id}", marks=[pytest.mark.postgres] * (backend == "postgresql")
    )
    for row in ROWS
    for backend in row.backends
]


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Studio:
    """The seeded studio on SQLite in its data dir, made once per test worker."""
    return seed(Studio(tmp_path_factory.mktemp("hostile-seed") / "studio-data"))


@pytest.fixture(scope="session")
def seeded_postgresql(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Studio:
    """The seeded studio on PostgreSQL: its database is the template every row's database is copied from."""
    data_dir = tmp_path_factory.mktemp("hostile-seed-postgresql") / "studio-data"
    return seed(Studio(data_dir, postgres_server.create_database()))


def _own_studio(request: pytest.FixtureRequest, backend: str, data_dir: Path) -> Studio:
    seeded: Studio = request.getfixturevalue(f"seeded_{backend}")
    shutil.copytree(seeded.data_dir, data_dir)
    if seeded.database_url is None:
        return Studio(data_dir)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return Studio(data_dir, copy_database(server, seeded.database_url))


def _arguments(row: Hostile, inputs: Path) -> list[str]:
    inputs.mkdir()
    args = []
    for arg in row.args:
        if isinstance(arg, Input):
            path = inputs / arg.name
            if not path.exists() and not path.is_fifo():
                INPUTS[arg.name](path)
            args.append(str(path))
        else:
            args.append(arg)
    return args


@pytest.mark.parametrize(("row", "backend"), CASES)
def test_hostile_input_is_refused_cleanly_and_writes_nothing(
    row: Hostile, backend: str, request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path
) -> None:
    mine = _own_studio(request, backend, data_dir)
    env = {**mine.env, **(row.breaks(mine) if row.breaks else {}), **row.env}
    args = _arguments(row, tmp_path / "inputs")
    before = snapshot(mine)
    result = studio(*args, env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == row.code, result.stderr
    for words in (row.says, *row.also_says):
        assert words in result.stderr, result.stderr
    for words in row.never_says:
        assert words not in result.stderr + result.stdout
    assert snapshot(mine) == before, "the refused input wrote something"


def test_every_input_builder_is_used() -> None:
    used = {arg.name for row in ROWS for arg in row.args if isinstance(arg, Input)}
    assert used == set(INPUTS)
    assert len({row.id for row in ROWS}) == len(ROWS)
