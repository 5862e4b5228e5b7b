"""Every setting of DESIGN.md, typed, read from the environment (or passed in by tests and the app)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


def _printable_ascii(value: SecretStr | None) -> SecretStr | None:
    """A key or token as HTTP headers and HMAC need it: printable ASCII, surrounding whitespace dropped.

    The problem names the position, never the character or the value.
    """
    if value is None:
        return None
    text = value.get_secret_value().strip()
    bad = next((index for index, char in enumerate(text) if not "!" <= char <= "~"), None)
    if bad is not None:
        raise PydanticCustomError(
            "secret_not_ascii",
            "must be printable ASCII (no spaces, accents or invisible characters), but character {position} "
            "is not; copy it again from the provider",
            {"position": bad + 1},
        )
    return SecretStr(text)


def settings_problems(error: ValidationError) -> list[str]:
    """Each problem of a configuration as `VARIABLE: problem`, never with the value that was given."""
    return [
        f"{str(detail['loc'][0]).upper() if detail['loc'] else 'settings'}: "
        + str(detail["msg"]).removeprefix("Value error, ")
        for detail in error.errors(include_input=False)
    ]


class Settings(BaseSettings):
    """Configuration. Field names are the Python names; each reads the environment variable shown."""

    model_config = SettingsConfigDict(
        populate_by_name=True, extra="ignore", frozen=True, hide_input_in_errors=True
    )

    data_dir: Path = Field(Path(".studio"), validation_alias=_env("STUDIO_DATA_DIR"))
    """Where local storage, the SQLite database and the signing key live."""
    database_url: str | None = Field(None, validation_alias=_env("STUDIO_DATABASE_URL"))
    """SQLAlchemy URL of the records database; SQLite under data_dir when unset."""
    image_provider: Literal["auto", "local", "replicate"] = Field(
        "auto", validation_alias=_env("STUDIO_IMAGE_PROVIDER")
    )
    interrogator: str = Field("auto", validation_alias=_env("STUDIO_INTERROGATOR"))
    """`auto`, or an order of backends with fallback, e.g. `openai,replicate,local`."""
    storage: Literal["auto", "local", "supabase"] = Field("auto", validation_alias=_env("STUDIO_STORAGE"))

    replicate_api_token: SecretStr | None = Field(None, validation_alias=_env("REPLICATE_API_TOKEN"))
    replicate_base_url: str | None = Field(None, validation_alias=_env("REPLICATE_BASE_URL"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_env("STUDIO_OPENAI_MODEL"))
    replicate_creates_per_minute: float = Field(
        600, gt=0, le=1_000_000, allow_inf_nan=False, validation_alias=_env("REPLICATE_CREATES_PER_MINUTE")
    )
    """The most predictions the Replicate account may create a minute: every process sharing the records
    paces its creates below it (slower after a 429)."""
    openai_requests_per_minute: float = Field(
        500, gt=0, le=1_000_000, allow_inf_nan=False, validation_alias=_env("OPENAI_REQUESTS_PER_MINUTE")
    )
    supabase_url: str | None = Field(None, validation_alias=_env("SUPABASE_URL"))
    supabase_key: SecretStr | None = Field(None, validation_alias=_env("SUPABASE_KEY"))
    signing_key: SecretStr | None = Field(None, validation_alias=_env("STUDIO_SIGNING_KEY"))
    """HMAC key of local signed URLs; generated once into data_dir when unset."""

    public_url: str = Field("http://127.0.0.1:8501", validation_alias=_env("STUDIO_PUBLIC_URL"))
    """Where others reach the studio: local signed URLs are `{public_url}/api/v1/objects/...`."""

    reference_gen_concurrency: int = Field(
        6, ge=1, le=256, validation_alias=_env("REFERENCE_GEN_CONCURRENCY")
    )
    reference_gen_timeout: float = Field(
        120.0, gt=0, le=3600, allow_inf_nan=False, validation_alias=_env("REFERENCE_GEN_TIMEOUT")
    )
    """Seconds one image may take; a Replicate prediction past it is cancelled."""
    reference_model_version: str | None = Field(None, validation_alias=_env("REFERENCE_MODEL_VERSION"))
    reference_model_dev: str | None = Field(None, validation_alias=_env("REFERENCE_MODEL_DEV"))
    environment: Literal["development", "production"] = Field(
        "production", validation_alias=_env("ENVIRONMENT")
    )

    retry_attempts: int = Field(2, ge=1, le=10, validation_alias=_env("REFERENCE_RETRY_ATTEMPTS"))
    """Attempts per image in total (the seed's one retry)."""
    retry_backoff: float = Field(
        2.0, ge=0, le=600, allow_inf_nan=False, validation_alias=_env("REFERENCE_RETRY_BACKOFF")
    )
    """First backoff in seconds; doubles per attempt, never shorter than a provider's Retry-After."""
    budget_per_minute: Decimal = Field(
        Decimal("200"), ge=0, validation_alias=_env("STUDIO_BUDGET_PER_MINUTE")
    )
    default_job_budget: Decimal = Field(
        Decimal("5.00"), ge=0, validation_alias=_env("STUDIO_DEFAULT_JOB_BUDGET")
    )
    """Budget of a job whose song duration is unknown."""
    lease_seconds: float = Field(
        30.0, gt=0, le=3600, allow_inf_nan=False, validation_alias=_env("STUDIO_LEASE_SECONDS")
    )
    """How long a claimed job or reference stays with a process that stopped renewing it."""
    signed_url_ttl: int = Field(1_209_600, gt=0, validation_alias=_env("STUDIO_SIGNED_URL_TTL"))
    retention_days: int = Field(14, ge=1, validation_alias=_env("STUDIO_RETENTION_DAYS"))
    log_format: Literal["text", "json"] = Field("text", validation_alias=_env("STUDIO_LOG_FORMAT"))

    _check_secrets = field_validator("replicate_api_token", "openai_api_key", "supabase_key", "signing_key")(
        _printable_ascii
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an http:// or https:// address such as http://127.0.0.1:8501")
        return value.strip().rstrip("/")

    @property
    def model_version(self) -> str:
        """SDXL version: REFERENCE_MODEL_DEV in development, else REFERENCE_MODEL_VERSION, else pinned."""
        if self.environment == "development" and self.reference_model_dev:
            return self.reference_model_dev
        return self.reference_model_version or DEFAULT_SDXL_VERSION

    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir / 'studio.db'}"

    def secret_status(self) -> dict[str, str]:
        """Which secrets are configured, as `set` / `not set`: the only way secrets are ever shown."""
        secrets = {
            "REPLICATE_API_TOKEN": self.replicate_api_token,
            "OPENAI_API_KEY": self.openai_api_key,
            "SUPABASE_KEY": self.supabase_key,
            "STUDIO_SIGNING_KEY": self.signing_key,
        }
        return {
            name: "set" if value and value.get_secret_value() else "not set"
            for name, value in secrets.items()
        }
