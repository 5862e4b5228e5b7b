"""Where the app may serve: local mode on loopback only, team mode only with a complete sign-in and roles."""

from __future__ import annotations

from typing import Any

import pytest

from studio.access.deployment import ServingRefused, deployment, is_loopback, local_request_problem
from studio.access.roles import RoleRules, role_rules

PROXY_HEADERS = (
    "X-Forwarded-For",
    "Forwarded",
    "X-Real-IP",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "Via",
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "X-Original-Forwarded-For",
    "X-Forwarded-Server",
)
"""Every header that says a request came through a proxy: the pages and the API refuse each."""

ROLES = role_rules({"reviewer": ["rex@example.com"], "creator": ["*@example.com"]})
SECRET = "k" * 40


def auth(**changes: Any) -> dict[str, Any]:
    section = {
        "redirect_uri": "https://studio.example.com/oauth2callback",
        "cookie_secret": SECRET,
        "client_id": "studio",
        "client_secret": "s3cret",
        "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
    }
    section.update(changes)
    return {k: v for k, v in section.items() if v is not None}


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_addresses_serve_in_local_mode(address: str) -> None:
    assert is_loopback(address)
    served = deployment(address, None, RoleRules())
    assert (served.mode, served.address, served.providers) == ("local", address, ())


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "192.168.1.20", "studio.example.com"])
def test_any_other_address_without_sign_in_is_refused_with_what_to_configure(address: str | None) -> None:
    with pytest.raises(ServingRefused) as refused:
        deployment(address, None, RoleRules())
    message = str(refused.value)
    assert f"Refusing to serve on {address or 'every interface'} without sign-in" in message
    assert "127.0.0.1" in message and "[auth]" in message and "server_metadata_url" in message
    assert "[studio.roles]" in message


def test_roles_without_an_identity_provider_refuse_even_on_loopback() -> None:
    with pytest.raises(ServingRefused, match=r"Roles are configured .* but no identity provider"):
        deployment("127.0.0.1", None, ROLES)
    with pytest.raises(ServingRefused, match="no identity provider"):
        deployment("0.0.0.0", {}, role_rules({}, {"STUDIO_ROLES_CLAIM": "roles"}))


def test_an_incomplete_auth_section_is_refused_naming_what_it_lacks() -> None:
    with pytest.raises(ServingRefused) as refused:
        deployment("0.0.0.0", auth(client_id=None, server_metadata_url=None, cookie_secret="short"), ROLES)
    message = str(refused.value)
    assert "[auth] lacks client_id, server_metadata_url" in message
    assert "cookie_secret must be a random string of at least 32 characters" in message


def test_sign_in_without_roles_is_refused() -> None:
    with pytest.raises(ServingRefused, match=r"no roles: say who holds creator, reviewer and admin"):
        deployment("0.0.0.0", auth(), RoleRules())


def test_a_team_redirect_uri_must_be_https_and_end_in_oauth2callback() -> None:
    with pytest.raises(ServingRefused, match="redirect_uri must be https://"):
        deployment("0.0.0.0", auth(redirect_uri="http://studio.example.com/oauth2callback"), ROLES)
    with pytest.raises(ServingRefused, match="ending in /oauth2callback"):
        deployment("0.0.0.0", auth(redirect_uri="https://studio.example.com/"), ROLES)
    local = deployment("127.0.0.1", auth(redirect_uri="http://127.0.0.1:8501/oauth2callback"), ROLES)
    assert local.mode == "team"


def test_complete_sign_in_and_roles_serve_a_team_on_any_address() -> None:
    served = deployment("0.0.0.0", auth(), ROLES, authlib_installed=True)
    assert (served.mode, served.where, served.providers, served.rules) == (
        "team",
        "0.0.0.0",
        ("default",),
        ROLES,
    )
    assert deployment(None, auth(), ROLES).where == "every interface"


def test_named_providers_are_offered_by_name() -> None:
    shared = {"redirect_uri": "https://studio.example.com/oauth2callback", "cookie_secret": SECRET}
    provider = {k: v for k, v in auth().items() if k not in shared}
    served = deployment("0.0.0.0", {**shared, "google": provider, "okta": provider}, ROLES)
    assert served.providers == ("google", "okta")
    with pytest.raises(ServingRefused, match=r"\[auth.okta\] lacks client_secret"):
        deployment("0.0.0.0", {**shared, "okta": {**provider, "client_secret": ""}}, ROLES)


def test_sign_in_needs_authlib() -> None:
    with pytest.raises(ServingRefused, match="sign-in needs Authlib"):
        deployment("0.0.0.0", auth(), ROLES, authlib_installed=False)


@pytest.mark.parametrize(
    "headers",
    [{"Host": "127.0.0.1:8501"}, {"host": "localhost:8501"}, {"Host": "[::1]:8501"}, {}],
)
def test_local_mode_answers_requests_made_on_this_machine(headers: dict[str, str]) -> None:
    assert local_request_problem(headers) is None


@pytest.mark.parametrize(
    ("headers", "how"),
    [
        ({"Host": "studio.example.com"}, "as studio.example.com"),
        ({"Host": "rebound.attacker.test:8501"}, "as rebound.attacker.test:8501"),
        ({"Host": "127.0.0.1:8501", "X-Forwarded-For": "203.0.113.9"}, "through a proxy (x-forwarded-for)"),
        ({"Host": "localhost", "Forwarded": "for=203.0.113.9"}, "through a proxy (forwarded)"),
    ],
)
def test_local_mode_refuses_requests_through_a_proxy_or_another_host_name(
    headers: dict[str, str], how: str
) -> None:
    problem = local_request_problem(headers)
    assert problem is not None and problem.startswith(f"This request reached the studio {how}")
    assert "configure sign-in" in problem


@pytest.mark.parametrize("header", PROXY_HEADERS)
def test_any_proxy_header_means_the_request_did_not_come_straight_from_this_machine(header: str) -> None:
    problem = local_request_problem({"Host": "127.0.0.1:8501", header: "1.1 proxy"})
    assert problem is not None and f"through a proxy ({header.lower()})" in problem
