"""The small setup call every page starts with: the shared services container and its background runner.

Services and the runner are cached per settings (one per app process in production); tests change the
environment between runs and call `shutdown()` to stop the runner and close the services.
"""

from __future__ import annotations

import hashlib
import os

import streamlit as st
from pydantic import SecretStr, ValidationError

from components.failures import show_failure
from components.navigation import require_app
from studio.characters.overview import last_worked_on, work_on
from studio.errors import ConfigurationError, InvalidInput, Unavailable
from studio.logs import configure_logging
from studio.services import Services, build_services
from studio.settings import Settings, settings_problems
from studio.storage.keys import check_id
from studio.work.runner import BackgroundRunner

JOB_KEY = "current_job_id"
SONG_KEY = "current_song_id"
SONG_PARAM = "song"
"""`?song=` in the address: the current song, so a link, a new tab or a reload opens on it."""


def quiet_settings() -> Settings:
    """The environment, with `.streamlit/secrets.toml` filling in settings the environment lacks;
    ValidationError when they are wrong."""
    known = {
        str(alias).upper()
        for field in Settings.model_fields.values()
        for alias in getattr(field.validation_alias, "choices", [])
    }
    values: dict[str, str] = {}
    if st.secrets.load_if_toml_exists():
        for name, value in st.secrets.items():
            if (
                name.upper() in known
                and name.upper() not in os.environ
                and isinstance(value, str | int | float)
            ):
                values[name.upper()] = str(value)
    return Settings.model_validate(values)


def settings() -> Settings:
    """The settings, or (wrong ones) what is wrong with them in place of the page."""
    try:
        return quiet_settings()
    except ValidationError as error:
        st.error("Configuration: " + "; ".join(settings_problems(error)))
        st.stop()
        raise


def fingerprint_of(config: Settings) -> str:
    fields = sorted(
        (name, value.get_secret_value() if isinstance(value, SecretStr) else str(value))
        for name, value in config
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()


def _close(built: Services) -> None:
    built.close()


def _stop(runner: BackgroundRunner) -> None:
    runner.stop()


@st.cache_resource(show_spinner=False, on_release=_close)
def cached_services(fingerprint: str, _config: Settings) -> Services:
    configure_logging(_config)
    return build_services(_config)


@st.cache_resource(show_spinner=False, on_release=_stop)
def cached_runner(fingerprint: str, _built: Services) -> BackgroundRunner:
    return BackgroundRunner(_built).start()


def _built(fingerprint: str, config: Settings) -> Services:
    """The cached container; when it cannot be built, the reason in place of the page (tried again on the
    next run, as nothing failed is cached)."""
    try:
        return cached_services(fingerprint, config)
    except (ConfigurationError, Unavailable) as error:
        show_failure(error)
        st.stop()
        raise


def services() -> Services:
    """One container per settings, shared by every session and page; no runner is started."""
    config = settings()
    return _built(fingerprint_of(config), config)


def fingerprint() -> str:
    """Identifies the current settings, for caches that depend on them."""
    return fingerprint_of(settings())


def page_setup() -> Services:
    """Every page's first call: the services, with the background runner that executes queued jobs."""
    require_app()
    config = settings()
    fingerprint = fingerprint_of(config)
    built = _built(fingerprint, config)
    runner = cached_runner(fingerprint, built)
    if not runner.alive:
        runner.start()
    follow_song(built)
    return built


def shutdown() -> None:
    """Stop every runner, then close every services container (tests, and a clean process exit)."""
    cached_runner.clear()
    cached_services.clear()


def current_job_id() -> str | None:
    value = st.session_state.get(JOB_KEY)
    return str(value) if value else None


def select_job(job_id: str | None) -> None:
    st.session_state[JOB_KEY] = job_id


def current_song_id() -> str | None:
    value = st.session_state.get(SONG_KEY)
    return str(value) if value else None


def select_song(song_id: str | None) -> None:
    """The song the creator works on now: this session's, the address's, and the records' last worked on."""
    changed = song_id != st.session_state.get(SONG_KEY)
    st.session_state[SONG_KEY] = song_id
    _song_in_address(song_id)
    if song_id and changed:
        work_on(services(), song_id)


def _song_in_address(song_id: str | None) -> None:
    if song_id and st.query_params.get(SONG_PARAM) != song_id:
        st.query_params[SONG_PARAM] = song_id
    elif not song_id and SONG_PARAM in st.query_params:
        del st.query_params[SONG_PARAM]


def follow_song(built: Services) -> None:
    """Start on the address's song (a link), else this session's, else the one last worked on anywhere;
    a song the records do not know in the address is said and ignored."""
    linked = st.query_params.get(SONG_PARAM)
    current = current_song_id()
    if linked and linked != current:
        try:
            known = built.records.songs.song(check_id("song_id", linked)) is not None
        except InvalidInput:
            known = False
        if known:
            select_song(linked)
            return
        st.warning(f"The link names song {linked[:64]!r}, which the studio does not know.")
    if SONG_KEY not in st.session_state:
        last = last_worked_on(built)
        if last is not None:
            st.session_state[SONG_KEY] = last
            current = last
    _song_in_address(current)
