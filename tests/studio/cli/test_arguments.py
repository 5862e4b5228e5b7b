"""The CLI's argument parsing: numbers in range with the flag named, and a stray `-x` named as such."""

from __future__ import annotations

import pytest

from studio.cli import build_parser


def parse_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(list(argv))
    assert caught.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("generate", "p.json", "--duration-seconds", "nan"), "argument --duration-seconds: must be"),
        (("generate", "p.json", "--concurrency", "1e3"), "argument --concurrency: must be a whole number"),
        (("worker", "--poll", "inf"), "argument --poll: must be a number of seconds, at least 0.05"),
        (("character", "upload", "-x", "img.png"), "'-x' is not an option of this command, and not an id"),
        (("costs", "--x=1"), "'--x=1' is not an option of this command"),
        (("templates", "--bogus"), "'--bogus' is not an option of this command"),
    ],
)
def test_refusals_name_the_flag_or_the_stray_token(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], words: str
) -> None:
    assert words in parse_error(capsys, *argv)


def test_a_value_that_is_missing_is_still_argparse_own_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert "the following arguments are required: JOB_ID" in parse_error(capsys, "costs")


def test_numbers_in_range_are_parsed() -> None:
    argv = ["generate", "p.json", "--duration-seconds", "213.5", "--concurrency", "4"]
    args = build_parser().parse_args(argv)
    assert (args.duration_seconds, args.concurrency) == (213.5, 4)
    assert build_parser().parse_args(["worker", "--poll", "0.1"]).poll == 0.1


def test_an_id_after_a_double_dash_reaches_the_command() -> None:
    args = build_parser().parse_args(["character", "resolve", "--", "-x"])
    assert args.song == "-x"
