"""One logging configuration: JSON or text lines on stderr, structured fields, and redaction of secrets."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from studio.characters.consistency import ConsistencyResult, generate_now
from studio.characters.priority import log_clip_choice, resolve
from studio.characters.songs import upload_character_image
from studio.logs import REDACTED, Redactor, configure_logging, log_step, reset_logging, timed_step
from studio.plans.scene_plan import load_plan
from studio.records.schema import ReferenceRow
from studio.references.jobs import generate_references
from studio.references.result import ReferenceImages
from studio.services import Services, build_services
from studio.settings import Settings
from tests.conftest import PLANS_DIR
from tests.servers.openai import OpenAIServer
from tests.servers.replicate import Faults, ReplicateServer
from tests.servers.supabase_storage import SupabaseStorageServer
from tests.studio.characters.samples import png

log = logging.getLogger("studio.tests.logs")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    reset_logging()
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_the_step_fields_on_stderr(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings, log_format="json")
    log_step(
        log,
        "reference stored",
        job_id="job-1",
        stage="generation",
        reference="scene_alley",
        attempt=2,
        duration=0.25,
        outcome="stored",
    )
    captured = capsys.readouterr()
    assert captured.out == "", "logs never go to stdout"
    [line] = json_lines(captured.err)
    assert line["message"] == "reference stored" and line["level"] == "info"
    assert line["logger"] == "studio.tests.logs"
    assert {k: line[k] for k in ("job_id", "stage", "reference", "attempt", "duration", "outcome")} == {
        "job_id": "job-1",
        "stage": "generation",
        "reference": "scene_alley",
        "attempt": 2,
        "duration": 0.25,
        "outcome": "stored",
    }


def test_format_follows_the_setting_and_configuring_twice_keeps_one_handler(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(data_dir=data_dir))
    configure_logging(Settings(data_dir=data_dir))
    log.info("interrogating reference image for song %s", "demo", extra={"song_id": "demo"})
    text = capsys.readouterr().err
    assert text.count("interrogating reference image") == 1, "one handler, one line"
    assert "INFO" in text and "song_id=demo" in text and not text.lstrip().startswith("{")
    configure_logging(Settings(data_dir=data_dir, log_format="json"))
    log.info("now as JSON")
    assert json_lines(capsys.readouterr().err)[0]["message"] == "now as JSON"
    assert sum(h.get_name() == "studio" for h in logging.getLogger().handlers) == 1


def test_other_libraries_only_log_warnings(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(settings)
    logging.getLogger("httpx").info("HTTP Request: GET http://example.invalid/")
    logging.getLogger("httpx").warning("a warning from a library")
    err = capsys.readouterr().err
    assert "HTTP Request" not in err and "a warning from a library" in err


def test_timed_step_logs_duration_and_outcome(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(settings, log_format="json")
    with timed_step(log, "reference generated", job_id="j", reference="scene_a") as step:
        step["attempt"] = 1
    with pytest.raises(ValueError), timed_step(log, "reference generated", job_id="j", reference="scene_b"):
        raise ValueError("boom")
    ok, failed = json_lines(capsys.readouterr().err)
    assert ok["outcome"] == "ok" and ok["attempt"] == 1 and isinstance(ok["duration"], float)
    assert failed["outcome"] == "error: ValueError" and failed["level"] == "warning"


SECRETS = {
    "replicate": "r8_Vq3m9dX7aLkP2sT4uW6yZ8bC0eF1gH3jK5n",
    "openai": "sk-proj-T3BlbkFJx9Qw8Er7Ty6Ui5Op4As3Df2Gh1",
    "supabase": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl",
    "custom": "my-own-deployment-key-471",
}


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("token {replicate}", SECRETS["replicate"]),
        ("key={openai} rejected", SECRETS["openai"]),
        ("Authorization: Bearer abcdef0123456789xyz", "abcdef0123456789xyz"),
        ("{{'Authorization': 'Token abcdef0123456789'}}", "abcdef0123456789"),
        ("GET http://s/storage/v1/object/sign/b/k.png?token=eyJhbGciOi.eyJ1cmwi.c2ln", "c2ln"),
        ("local://reference-images/j/scene_a.png?expires=99&signature=deadbeefcafe", "deadbeefcafe"),
        ("postgresql://studio:hunter22@db.example:5432/studio", "hunter22"),
        ("sb_secret_AbCdEfGhIjKlMnOp in a message", "sb_secret_AbCdEfGhIjKlMnOp"),
        ("used {custom} for it", SECRETS["custom"]),
        ('{{"apikey": "zz-top-secret-9"}}', "zz-top-secret-9"),
    ],
)
def test_redaction_hides_every_kind_of_secret(text: str, hidden: str) -> None:
    redacted = Redactor([SECRETS["custom"]]).redact(text.format(**SECRETS))
    assert hidden not in redacted and REDACTED in redacted


def test_redaction_keeps_ordinary_text() -> None:
    text = "invalid token provided; see http://127.0.0.1:5050/v1/predictions (job 3f2a, scene_alley)"
    assert Redactor().redact(text) == text


def test_filter_redacts_message_args_extra_and_exception(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        data_dir=data_dir,
        log_format="json",
        replicate_api_token=SECRETS["custom"],
        database_url="postgresql://studio:pa55word-x@db/studio",
    )
    configure_logging(settings)
    try:
        raise RuntimeError(f"upstream said: bad key {SECRETS['custom']}")
    except RuntimeError:
        log.exception(
            "call with %s failed",
            SECRETS["custom"],
            extra={"url": "https://x/y.png?token=abc123secret", "headers": {"apikey": SECRETS["openai"]}},
        )
    log.info("database %s", "postgresql://studio:pa55word-x@db/studio")
    captured = capsys.readouterr().err
    for secret in (SECRETS["custom"], "abc123secret", SECRETS["openai"], "pa55word-x"):
        assert secret not in captured
    first, second = json_lines(captured)
    assert first["message"] == f"call with {REDACTED} failed"
    assert first["url"] == f"https://x/y.png?token={REDACTED}"
    assert "RuntimeError" in str(first["error"]) and REDACTED in str(first["error"])
    assert second["message"] == f"database postgresql://studio:{REDACTED}@db/studio"


def _signed_tokens(urls: list[str]) -> list[str]:
    tokens = []
    for url in urls:
        query = parse_qs(urlsplit(url).query)
        tokens += query.get("token", []) + query.get("signature", [])
    return tokens


def test_full_run_logs_no_key_token_or_signed_url_token(
    data_dir: Path,
    supabase_server: SupabaseStorageServer,
    replicate_server: ReplicateServer,
    openai_server: OpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every logger at DEBUG (clients included) through a generation with faults and a consistency job."""
    # every first attempt of a request is refused (429) or fails, whatever the prompts: faults always happen
    replicate_server.faults = Faults(rate_limited=0.5, failed=1.0, retry_after=0.01, per_request=1, seed=3)
    settings = Settings(
        data_dir=data_dir,
        log_format="json",
        retry_backoff=0.01,
        replicate_api_token=replicate_server.token,
        replicate_base_url=replicate_server.base_url,
        openai_api_key=openai_server.api_key,
        openai_base_url=openai_server.url,
        supabase_url=supabase_server.url,
        supabase_key=supabase_server.key,
        interrogator="openai,local",
    )
    configure_logging(settings, level=logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    services = build_services(settings)
    try:
        plan = load_plan(PLANS_DIR / "minimal.json")

        async def run() -> tuple[ReferenceImages | None, ConsistencyResult]:
            result = await generate_references(services, plan.job_id, plan)
            upload_character_image(services, "demo-song", png(), "A")
            return result, await generate_now(services, "demo-song")

        result, outcome = asyncio.run(run())
        assert result is not None and outcome.status == "completed", outcome
        urls = [r.image_url for r in [*result.scene_references, *result.character_references]]
        log.info("references ready: %s", urls, extra={"job_id": str(plan.job_id), "urls": urls})
        with services.records.db.write() as s:
            errors = [row.error or "" for row in s.query(ReferenceRow)]
    finally:
        services.close()
        services.storage.close()  # type: ignore[attr-defined]
    captured = capsys.readouterr()
    lines = json_lines(captured.err)
    assert len(lines) > 20, "clients logged at DEBUG too"
    assert replicate_server.count("failed") or replicate_server.answered[429], "faults were injected"
    secrets = [replicate_server.token, openai_server.api_key, supabase_server.key, *_signed_tokens(urls)]
    assert len(secrets) > 3
    everything = captured.err + captured.out + "\n".join(errors)
    for secret in secrets:
        assert secret not in everything
    assert any(REDACTED in line["message"] for line in lines if isinstance(line["message"], str))


def test_the_seeds_verification_lines_and_one_line_per_step(
    services: Services, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings, log_format="json")
    upload_character_image(services, "demo-song", png())
    before = resolve(services, "demo-song")
    log_clip_choice(before, job_id="job-9")
    result = asyncio.run(generate_now(services, "demo-song"))
    assert result.status == "completed"
    log_clip_choice(resolve(services, "demo-song"), job_id="job-9")
    plan = load_plan(PLANS_DIR / "minimal.json")
    asyncio.run(generate_references(services, plan.job_id, plan))
    lines = json_lines(capsys.readouterr().err)
    by_message = {line["message"]: line for line in lines}
    for message in (
        "character image generation job enqueued",
        "interrogating reference image",
        "using character reference image (pose-a) for clip generation",
        "using character generated image for clip generation",
    ):
        assert by_message[message]["song_id"] == "demo-song", message
    assert by_message["interrogating reference image"]["job_id"] == result.job_id
    generated = [line for line in lines if line["message"] == "reference generated"]
    assert sorted(line["reference"] for line in generated) == ["character_singer", "scene_rooftop"]
    for line in generated:
        assert line["job_id"] == str(plan.job_id) and line["stage"] == "generation"
        assert line["attempt"] == 1 and line["outcome"] == "stored" and isinstance(line["duration"], float)
    assert by_message["reference generation finished"]["outcome"] == "success"
