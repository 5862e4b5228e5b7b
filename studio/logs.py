"""The studio's one logging configuration: readable lines in a terminal, JSON lines for machines.

Every record that reaches the studio's handler passes the redaction filter first, whichever library
logged it, so an API key, a bearer token or a signed URL's token never lands in a log line. Logs go to
stderr: stdout belongs to `--json` output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import regex

from studio.settings import Settings

REDACTED = "[redacted]"
STEP_FIELDS = ("job_id", "song_id", "stage", "reference", "attempt", "duration", "outcome")
"""The structured fields of a step line; any other `extra` key is kept too."""

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_MIN_SECRET = 6

_PATTERNS: tuple[tuple[regex.Pattern[str], str], ...] = (
    # Authorization headers, whatever the scheme word, and bearer tokens anywhere.
    (
        regex.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+)[^\s\"',}]+"),
        rf"\1{REDACTED}",
    ),
    (regex.compile(r"(?i)\b(bearer\s+)(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}"), rf"\1{REDACTED}"),
    # Signed-URL query parameters (Supabase `token=`, local and S3-style `signature=`).
    (
        regex.compile(r"(?i)([?&](?:token|signature|sig|x-amz-signature|x-amz-credential)=)[^&\s\"'#<>]+"),
        rf"\1{REDACTED}",
    ),
    # A password inside any URL: scheme://user:password@host.
    (regex.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(@)"), rf"\1{REDACTED}\2"),
    # key=value and "key": "value" forms of obvious secrets.
    (
        regex.compile(
            r"(?i)\b(api[_-]?key|apikey|api[_-]?token|access[_-]?token|password|passwd|client[_-]?secret)"
            r"([\"']?\s*[:=]\s*[\"']?)(?!\[redacted\])[^\s\"'&,;}]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (
        regex.compile(r"(?i)(?<![\w-])([\"']?token[\"']?\s*[:=]\s*[\"']?)(?!\[redacted\])[\w.~+/=-]{12,}"),
        rf"\1{REDACTED}",
    ),
    (regex.compile(r"\br8_[A-Za-z0-9_-]{8,}"), REDACTED),  # Replicate API tokens
    (regex.compile(r"\bsk-[A-Za-z0-9_-]{10,}"), REDACTED),  # OpenAI keys (sk-..., sk-proj-...)
    (regex.compile(r"\bsb_(?:secret|publishable)_[A-Za-z0-9_-]{8,}"), REDACTED),  # Supabase API keys
    (regex.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),  # JWTs (Supabase keys)
)


class Redactor(logging.Filter):
    """Replaces secrets in a record's message, arguments, extra fields and exception text; never drops it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Exact values to hide (the configured keys), longest first so no fragment is left behind."""
        unique = {s for s in secrets if s and len(s) >= _MIN_SECRET}
        self.secrets = tuple(sorted(unique, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what was given, still redacted
            message = f"{record.msg} {record.args}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # formatters use the cached text rather than formatting exc_info again
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD:
                record.__dict__[name] = self.redact_value(value)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record carries (`extra={...}`), in the order they were given."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the structured fields, then `error`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            document.setdefault(name, _jsonable(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["error"] = record.exc_text
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`12:00:01 INFO  studio.references.jobs  message  job_id=... stage=...` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s  %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        fields = extra_fields(record)
        text = super().format(record)
        if fields:
            pairs = " ".join(f"{k}={_jsonable(v)}" for k, v in fields.items())
            head, newline, tail = text.partition("\n")
            text = f"{head}  {pairs}{newline}{tail}"
        return text


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the moment (tests and Streamlit replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


_HANDLER_NAME = "studio"


def secret_values(settings: Settings | None) -> list[str]:
    """The exact secret values of `settings` (keys and the database password): what redaction hides."""
    if settings is None:
        return []
    values = [
        secret.get_secret_value()
        for secret in (
            settings.replicate_api_token,
            settings.openai_api_key,
            settings.supabase_key,
            settings.signing_key,
        )
        if secret is not None
    ]
    if settings.database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            password = make_url(settings.database_url).password
        except ArgumentError:
            password = None
        if password:
            values.append(str(password))
    return values


def studio_handler() -> logging.Handler | None:
    """The handler configure_logging installed on the root logger, if any."""
    return next((h for h in logging.getLogger().handlers if h.get_name() == _HANDLER_NAME), None)


def configure_logging(
    settings: Settings | None = None, *, level: int = logging.INFO, log_format: str | None = None
) -> logging.Handler:
    """Install (or update) the studio's stderr handler on the root logger; safe to call again.

    `studio.*` loggers log at `level`; other libraries only at WARNING and above. The format is
    `settings.log_format` (STUDIO_LOG_FORMAT) unless `log_format` is given.
    """
    if settings is None:
        from pydantic import ValidationError

        try:
            settings = Settings()
        except ValidationError:  # the command reports the bad setting itself; logs still work
            settings = None
    chosen = log_format or (settings.log_format if settings is not None else "text")
    handler = studio_handler()
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(Redactor())
        logging.getLogger().addHandler(handler)
    for existing in handler.filters:
        if isinstance(existing, Redactor):
            existing.set_secrets(secret_values(settings))
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.setLevel(min(level, logging.WARNING))
    root = logging.getLogger()
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("studio").setLevel(level)
    return handler


def reset_logging() -> None:
    """Remove the studio's handler again (tests use it to leave the root logger as they found it)."""
    handler = studio_handler()
    if handler is not None:
        logging.getLogger().removeHandler(handler)
    logging.getLogger("studio").setLevel(logging.NOTSET)


def log_step(logger: logging.Logger, message: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: `log_step(log, "reference stored", job_id=..., stage=..., reference=...)`."""
    logger.log(level, message, extra={k: v for k, v in fields.items() if v is not None}, stacklevel=2)


@contextmanager
def timed_step(logger: logging.Logger, message: str, /, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log `message` when the block ends, with its duration and outcome (`ok`, or the exception's type).

    The block may add fields (e.g. `step["outcome"] = "reused"`) through the dict it is given.
    """
    step: dict[str, Any] = dict(fields)
    started = time.perf_counter()
    try:
        yield step
    except BaseException as exc:
        step["outcome"] = f"error: {type(exc).__name__}"
        step["duration"] = round(time.perf_counter() - started, 4)
        log_step(logger, message, level=logging.WARNING, **step)
        raise
    step.setdefault("outcome", "ok")
    step["duration"] = round(time.perf_counter() - started, 4)
    log_step(logger, message, **step)
