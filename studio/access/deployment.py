"""Where the app may serve, and as whom.

Local mode (no sign-in configured): the app serves on a loopback address only, and the one person at this
machine holds every role. Team mode: Streamlit's OpenID Connect sign-in (`[auth]` in secrets.toml) and roles
from configuration. Anything in between (another address without sign-in, roles without an identity
provider, an incomplete `[auth]`) is refused before anyone can reach the review gate.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from studio.access.roles import ROLES_ENVIRONMENT, RoleRules
from studio.errors import ConfigurationError

Mode = Literal["local", "team"]
SHARED = ("redirect_uri", "cookie_secret")
PROVIDER = ("client_id", "client_secret", "server_metadata_url")
MIN_COOKIE_SECRET_CHARS = 32
FORWARDING_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-server",
    "x-original-forwarded-for",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "via",
)
"""Any of these means a proxy passed the request on: it did not come straight from this machine."""
HOW_TO = (
    "Either serve on 127.0.0.1 only (server.address in .streamlit/config.toml, as `make run` does), or "
    "configure sign-in: an [auth] section in .streamlit/secrets.toml (redirect_uri, cookie_secret, "
    "client_id, client_secret, server_metadata_url of your OpenID Connect provider) and who holds which "
    "role in [studio.roles]. README: 'Deploying for a team'."
)


class ServingRefused(ConfigurationError):
    """The app must not serve with these settings; the message says what to configure."""


@dataclass(frozen=True)
class Deployment:
    mode: Mode
    address: str
    """Where Streamlit listens; empty for every interface."""
    providers: tuple[str, ...] = ()
    """The identity providers' names for `st.login(provider)`; `default` is the unnamed one."""
    rules: RoleRules = field(default_factory=RoleRules)

    @property
    def where(self) -> str:
        return self.address or "every interface"


def is_loopback(address: str | None) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if not address:
        return False
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def local_request_problem(headers: Mapping[str, str]) -> str | None:
    """Why local mode must not answer this request, or None. A loopback address does not prove the person is
    at this machine: a reverse proxy on it forwards others, and a web page can rebind its own host name to
    127.0.0.1. Either shows in the request (forwarding headers, a Host that is not a loopback name)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    host = lowered.get("host", "")
    name = urlparse(f"//{host}").hostname if host else None
    through = next((header for header in FORWARDING_HEADERS if header in lowered), None)
    if (name is None or is_loopback(name)) and through is None:
        return None
    how = f"as {host}" if name and not is_loopback(name) else f"through a proxy ({through})"
    return (
        f"This request reached the studio {how}, and no sign-in is configured: in local mode only this "
        "machine may use it, at http://127.0.0.1. To serve others (behind a proxy too), configure sign-in: "
        "an [auth] section in .streamlit/secrets.toml and the roles in [studio.roles]. README: 'Deploying "
        "for a team'."
    )


def providers(auth: Mapping[str, Any]) -> tuple[tuple[str, ...], list[str]]:
    """The identity providers an `[auth]` section configures, and what is missing or wrong in it."""
    problems = [f"[auth] lacks {key}" for key in SHARED if not auth.get(key)]
    named = {
        name: value
        for name, value in auth.items()
        if isinstance(value, Mapping) and any(key in value for key in PROVIDER)
    }
    sections: dict[str, Mapping[str, Any]] = {}
    if not named or any(key in auth for key in PROVIDER):
        sections["default"] = auth
    sections.update(named)
    for name, section in sections.items():
        where = "[auth]" if name == "default" else f"[auth.{name}]"
        missing = [key for key in PROVIDER if not section.get(key)]
        if missing:
            problems.append(f"{where} lacks {', '.join(missing)}")
        if "_" in name:
            problems.append(f"{where}: a provider's name must not contain '_'")
    secret = str(auth.get("cookie_secret") or "")
    if secret and len(secret) < MIN_COOKIE_SECRET_CHARS:
        problems.append(
            f"[auth] cookie_secret must be a random string of at least {MIN_COOKIE_SECRET_CHARS} characters"
        )
    redirect = urlparse(str(auth.get("redirect_uri") or ""))
    if auth.get("redirect_uri"):
        if not redirect.path.endswith("/oauth2callback"):
            problems.append("[auth] redirect_uri must be the app's address ending in /oauth2callback")
        elif redirect.scheme != "https" and not is_loopback(redirect.hostname):
            problems.append("[auth] redirect_uri must be https:// (serve the studio behind HTTPS)")
    return tuple(sections), problems


def deployment(
    address: str | None,
    auth: Mapping[str, Any] | None,
    rules: RoleRules,
    *,
    authlib_installed: bool | None = None,
) -> Deployment:
    """The mode these settings give; ServingRefused with what to configure when they must not serve."""
    address = (address or "").strip()
    shown = address or "every interface"
    if not auth:
        if rules.configured:
            raise ServingRefused(
                f"Roles are configured ([studio.roles] or {ROLES_ENVIRONMENT}*) but no identity provider: "
                "team mode needs sign-in. Add an [auth] section to .streamlit/secrets.toml (redirect_uri, "
                "cookie_secret, client_id, client_secret, server_metadata_url), or remove the roles to work "
                "locally on 127.0.0.1."
            )
        if not is_loopback(address):
            raise ServingRefused(
                f"Refusing to serve on {shown} without sign-in: anyone who can reach the studio could "
                f"approve references and spend. {HOW_TO}"
            )
        return Deployment("local", address)
    names, problems = providers(auth)
    if not rules.configured:
        problems.append("no roles: say who holds creator, reviewer and admin in [studio.roles]")
    if authlib_installed is None:
        authlib_installed = importlib.util.find_spec("authlib") is not None
    if not authlib_installed:
        problems.append("sign-in needs Authlib: install requirements.txt")
    if problems:
        raise ServingRefused("Sign-in is not fully configured: " + "; ".join(problems) + ". " + HOW_TO)
    return Deployment("team", address, names, rules)
