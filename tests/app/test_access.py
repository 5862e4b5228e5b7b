"""Every page in local mode and as each role of a team (AppTest's `user` is what `st.user` reads), signed out,
with no role, and refused settings: who sees what, and that a page's actions go out as the signed-in actor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from components.setup import JOB_KEY, shutdown
from studio.review.gate import review_board
from studio.services import Services
from tests.app.conftest import APP
from tests.app.test_review_board import board_data, generated, send

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "pages").glob("*.py"))
TITLES = {
    "pages/home.py": "Reference Studio",
    "pages/characters.py": "Characters",
    "pages/plan.py": "Scene plan & prompts",
    "pages/generate.py": "Generate",
    "pages/review.py": "Review",
    "pages/costs.py": "Costs",
}
OPENS: dict[str, set[str]] = {
    "creator": {
        "pages/home.py",
        "pages/characters.py",
        "pages/plan.py",
        "pages/generate.py",
        "pages/review.py",
    },
    "reviewer": {"pages/home.py", "pages/review.py"},
    "admin": {"pages/home.py", "pages/costs.py"},
}
FOR_WHOM = {"pages/characters.py": "creators", "pages/plan.py": "creators", "pages/generate.py": "creators"}
FOR_WHOM |= {"pages/review.py": "creators and reviewers", "pages/costs.py": "admins"}
TEAM_SECRETS: dict[str, Any] = {
    "auth": {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "c" * 40,
        "client_id": "reference-studio",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    },
    "studio": {
        "roles": {
            "creator": ["cora@example.com"],
            "reviewer": ["rex@example.com"],
            "admin": ["ada@example.com"],
        }
    },
}
EMAILS = {"creator": "cora@example.com", "reviewer": "rex@example.com", "admin": "ada@example.com"}
Open = Callable[..., AppTest]


def signed_in(role: str) -> dict[str, Any]:
    email = EMAILS.get(role, "nick@example.com")
    return {"is_logged_in": True, "email": email, "email_verified": True, "name": f"Test {role.title()}"}


@pytest.fixture
def open_as(clean_environment: Path) -> Iterator[Open]:
    """Open a page as `user` (None: local mode, no secrets) with `secrets` (default: a team's)."""

    def open_(
        page: str, user: dict[str, Any] | None = None, secrets: dict[str, Any] | None = None
    ) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        if user is not None:
            at.secrets = TEAM_SECRETS if secrets is None else secrets
            at.user = user
        elif secrets is not None:
            at.secrets = secrets
        at.switch_page(page)
        return at.run()

    yield open_
    shutdown()


def texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.warning, *at.error, *at.info, *at.title]
    return " ".join(str(p.value) for p in parts)


def sidebar(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.sidebar.markdown, *at.sidebar.caption])


@pytest.mark.parametrize("page", PAGES)
def test_local_mode_opens_every_page_as_the_local_user_with_every_role(
    open_as: Open, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "lou")
    at = open_as(page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == TITLES[page]
    assert "**lou** · local mode" in sidebar(at)
    assert "You hold every role (creator, reviewer, admin)" in sidebar(at)
    assert "127.0.0.1" in sidebar(at)
    assert not [b for b in at.sidebar.button if b.label == "Sign out"]


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_every_page_is_the_sign_in_page(open_as: Open, page: str) -> None:
    at = open_as(page, {"is_logged_in": False})
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Reference Studio"]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.sidebar.markdown and not at.dataframe and not at.metric


@pytest.mark.parametrize("role", sorted(OPENS))
@pytest.mark.parametrize("page", PAGES)
def test_each_role_opens_its_pages_and_is_told_about_the_others(open_as: Open, page: str, role: str) -> None:
    at = open_as(page, signed_in(role))
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == TITLES[page]
    assert f"{EMAILS[role]} · {role}" in sidebar(at)
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    if page in OPENS[role]:
        assert not at.error, [e.value for e in at.error]
        assert not any("You are signed in as" in w.value for w in at.warning)
    else:
        [warning] = [w.value for w in at.warning]
        assert warning == (
            f"{TITLES[page]} is for {FOR_WHOM[page]}. You are signed in as Test {role.title()} "
            f"({EMAILS[role]}), role: {role}."
        )
        assert len(at.title) == 1 and not at.dataframe and not at.main.button


def test_a_signed_in_identity_without_a_role_sees_nothing(open_as: Open) -> None:
    at = open_as("pages/home.py", signed_in("nobody"))
    [warning] = [w.value for w in at.warning]
    assert "you have no role in this studio yet" in warning and "nick@example.com" in warning
    assert not at.main.button and not at.dataframe


def test_home_offers_the_demo_to_creators_and_the_doctor_to_admins(open_as: Open) -> None:
    creator = open_as("pages/home.py", signed_in("creator"))
    assert not creator.button(key="run-demo").disabled
    assert not creator.expander
    reviewer = open_as("pages/home.py", signed_in("reviewer"))
    assert reviewer.button(key="run-demo").disabled
    admin = open_as("pages/home.py", signed_in("admin"))
    assert [e.label for e in admin.expander] == ["Backends, keys and health"]
    assert admin.toggle(key="doctor-toggle")


def test_a_creator_cannot_approve_from_the_review_page(open_as: Open, services: Services) -> None:
    job_id = generated(services, "minimal")
    at = open_as("pages/review.py", signed_in("creator"))
    assert "Only reviewers approve or reject; you are cora@example.com (creator)" in texts(at)
    assert board_data(at)["may_review"] is False, "the board refuses A and R in the browser"
    at.user = signed_in("reviewer")
    assert board_data(at.run())["may_review"] is True
    at.user = signed_in("creator")  # the decision arrives from a session that is a creator's: refused
    first = review_board(services, job_id).references[0].ref
    send(at, job_id, ("1", first, None))
    assert not at.exception
    (refused,) = board_data(at)["settled"]
    assert not refused["recorded"]
    assert (
        "cora@example.com (creator) may not approve or reject references: only reviewers may"
        in refused["problem"]
    )
    assert {r.status for r in review_board(services, job_id).references} == {"pending"}


def test_a_reviewer_approves_and_the_audit_trail_shows_their_email(open_as: Open, services: Services) -> None:
    job_id = generated(services, "minimal")
    at = open_as("pages/review.py", signed_in("reviewer"))
    assert "Deciding as **rex@example.com**, recorded in the audit trail." in texts(at)
    assert not [t for t in at.text_input if t.label == "Reviewer"], "no typed reviewer name any more"
    send(at, job_id, ("1", review_board(services, job_id).references[0].ref, None))
    assert not at.exception
    first = review_board(services, job_id).references[0]
    assert first.status == "approved"
    assert [d.reviewer for d in first.versions[-1].decisions] == ["rex@example.com"]


def test_an_admin_sees_costs_and_a_creator_generates(open_as: Open, services: Services) -> None:
    job_id = generated(services, "minimal")
    admin = open_as("pages/costs.py", signed_in("admin"))
    assert not admin.exception and admin.metric
    creator = AppTest.from_file(APP, default_timeout=30)
    creator.secrets, creator.user = TEAM_SECRETS, signed_in("creator")
    creator.session_state[JOB_KEY] = job_id
    creator.switch_page("pages/generate.py").run()
    assert not creator.exception and not creator.error
    assert creator.button(key=f"start-{job_id}").label == "Generate again (reuses stored images)"


def test_sign_out_returns_to_the_sign_in_page(open_as: Open) -> None:
    at = open_as("pages/home.py", signed_in("reviewer"))
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert at.user == {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]


@pytest.fixture
def every_interface() -> Iterator[None]:
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


@pytest.mark.parametrize("page", PAGES)
def test_serving_beyond_this_machine_without_sign_in_shows_only_the_refusal(
    open_as: Open, page: str, every_interface: None
) -> None:
    at = open_as(page)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Reference Studio is not serving"]
    [error] = [e.value for e in at.error]
    assert error.startswith("Refusing to serve on 0.0.0.0 without sign-in")
    assert not at.button and not at.sidebar.markdown


def test_team_roles_without_an_identity_provider_refuse_to_serve(open_as: Open) -> None:
    at = open_as("pages/review.py", secrets={"studio": TEAM_SECRETS["studio"]})
    [error] = [e.value for e in at.error]
    assert error.startswith(
        "Roles are configured ([studio.roles] or STUDIO_ROLES_*) but no identity provider"
    )
    assert not at.button
