"""Who is using the app, and the screens that say so: the sidebar's identity, the sign-in page (team mode),
the refusal page (settings that must not serve), and the note on a page someone's roles do not open.

`actor()` is the one function pages and callbacks use to learn who acts: the local user in local mode (every
role), the signed-in identity with its configured roles in team mode (Streamlit's `st.login` / `st.user`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from studio.access.deployment import Deployment, ServingRefused, deployment, local_request_problem
from studio.access.roles import GRANTED_TO, ROLES, Actor, Permission, local_operator, role_rules, signed_in
from studio.errors import InvalidInput

NOBODY = Actor(name="nobody (signed out)", roles=frozenset())
"""Who a callback acts for when its session is no longer signed in: permitted nothing."""


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _secrets() -> dict[str, Any]:
    if not st.secrets.load_if_toml_exists():
        return {}
    plain: dict[str, Any] = _plain(st.secrets)
    return plain


def deployment_here(headers: Mapping[str, str] | None = None) -> Deployment:
    """This server's mode from its address (`server.address`) and secrets; ServingRefused when it must
    not serve, or (local mode) must not answer a request with these `headers`."""
    secrets = _secrets()
    services = secrets.get("studio")
    roles = services.get("roles") if isinstance(services, Mapping) else None
    where = deployment(st.get_option("server.address"), secrets.get("auth"), role_rules(roles))
    problem = local_request_problem(headers) if where.mode == "local" and headers is not None else None
    if problem:
        raise ServingRefused(problem)
    return where


def signed_in_actor(where: Deployment) -> Actor | None:
    """The session's actor, or None while nobody is signed in (team mode only)."""
    if where.mode == "local":
        return local_operator(field="USER", channel="page")
    if not st.user.get("is_logged_in"):
        return None
    return signed_in(st.user.to_dict(), where.rules)


def actor() -> Actor:
    """Who acts in this session (a widget callback included); permitted nothing when nobody is signed in."""
    try:
        found = signed_in_actor(deployment_here())
    except InvalidInput:
        return NOBODY
    return found if found is not None else NOBODY


def identity_sidebar(where: Deployment, who: Actor) -> None:
    with st.sidebar:
        if where.mode == "local":
            st.markdown(f":material/person: **{who.name}** · local mode")
            st.caption(
                f"You hold every role ({', '.join(ROLES)}). Only this machine can reach the studio "
                f"({where.where}); a team deployment signs people in."
            )
            return
        st.markdown(f":material/verified_user: **{who.name}**")
        st.caption(f"{who.email} · {who.role_names}")
        if st.button("Sign out", icon=":material/logout:", key="sign-out"):
            st.logout()


def sign_in_page(where: Deployment) -> None:
    st.title("Reference Studio")
    st.markdown("Sign in to review and generate the references of your team's music videos.")
    for provider in where.providers:
        label = "Sign in" if provider == "default" else f"Sign in with {provider.title()}"
        if st.button(label, type="primary", icon=":material/login:", key=f"sign-in-{provider}"):
            st.login(provider)
    st.caption("Your identity provider says who you are; the studio's configuration says what you may do.")


def refusal_page(problem: str) -> None:
    st.title("Reference Studio is not serving")
    st.error(problem, icon=":material/gpp_bad:")


def no_role_page(who: Actor) -> None:
    st.title("Reference Studio")
    st.warning(
        f"You are signed in as {who.label}, but you have no role in this studio yet. Ask an admin to add "
        "your e-mail to creator, reviewer or admin in [studio.roles].",
        icon=":material/person_off:",
    )


def not_permitted_page(title: str, needed: Permission, who: Actor) -> None:
    holders = " and ".join(f"{role}s" for role in GRANTED_TO[needed])
    st.title(title)
    st.warning(
        f"{title} is for {holders}. You are signed in as {who.label}, role: {who.role_names}.",
        icon=":material/lock:",
    )
    st.page_link("pages/home.py", label="Home", icon=":material/home:")
