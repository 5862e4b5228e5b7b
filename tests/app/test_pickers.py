"""Every picker keeps the user's first choice in a fresh session (the widget must not be replaced)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox

from components.setup import JOB_KEY, SONG_KEY
from studio.characters.songs import apply_template
from studio.prompts.edits import save_plan
from studio.references import jobs
from studio.samples import load_sample
from studio.services import Services
from tests.app.conftest import APP, OpenPage


def picker(at: AppTest, label: str) -> Selectbox[str]:
    [found] = [box for box in at.selectbox if box.label == label]
    return found


def two_plans(services: Services) -> tuple[str, str]:
    """The 32-image plan saved last (so it is listed first) and the 6-image one."""
    small = save_plan(services, load_sample("music-video"), "sample music-video")
    large = save_plan(services, load_sample("road-trip-32"), "sample road-trip-32")
    return large, small


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_plan_picked_first_on_generate_is_the_one_generated(
    open_page: OpenPage, services: Services
) -> None:
    large, small = two_plans(services)
    at = open_page("pages/generate.py")
    assert picker(at, "Scene plan").value == large
    assert metrics(at)["images"] == "32"
    picker(at, "Scene plan").set_value(small).run()
    assert not at.exception
    assert metrics(at)["images"] == "6"
    assert at.session_state[JOB_KEY] == small
    at.run()
    assert picker(at, "Scene plan").value == small and metrics(at)["images"] == "6"
    assert at.button(key=f"start-{small}")


def test_the_plan_picked_first_on_plan_shows_its_prompts(open_page: OpenPage, services: Services) -> None:
    _, small = two_plans(services)
    at = open_page("pages/plan.py")
    picker(at, "Scene plan").set_value(small).run()
    assert len(at.data_editor[0].value) == 6
    at.run()
    assert picker(at, "Scene plan").value == small and len(at.data_editor[0].value) == 6


def test_the_plan_chosen_on_one_page_is_the_default_on_the_next(
    open_page: OpenPage, services: Services
) -> None:
    large, small = two_plans(services)
    at = open_page("pages/plan.py")
    picker(at, "Scene plan").set_value(small).run()
    at.switch_page("pages/generate.py").run()
    assert picker(at, "Scene plan").value == small and metrics(at)["images"] == "6"
    picker(at, "Scene plan").set_value(large).run()
    at.switch_page("pages/plan.py").run()
    assert picker(at, "Scene plan").value == large


@pytest.mark.parametrize("page", ["pages/review.py", "pages/costs.py"])
def test_the_job_picked_first_is_kept(open_page: OpenPage, services: Services, page: str) -> None:
    large, small = two_plans(services)
    first = jobs.submit(services, load_sample("music-video"))
    second = jobs.submit(services, load_sample("road-trip-32"))
    assert (first, second) == (small, large)
    at = open_page(page)
    shown = picker(at, "Job").value
    other = first if shown == second else second
    picker(at, "Job").set_value(other).run()
    assert not at.exception
    assert at.session_state[JOB_KEY] == other
    at.run()
    assert picker(at, "Job").value == other


def test_the_song_picked_first_is_kept(open_page: OpenPage, services: Services) -> None:
    apply_template(services, "first-song", "character-1")
    apply_template(services, "second-song", "character-2")
    at = open_page("pages/characters.py")
    shown = picker(at, "Song").value
    other = "first-song" if shown == "second-song" else "second-song"
    picker(at, "Song").set_value(other).run()
    assert at.session_state[SONG_KEY] == other
    assert at.file_uploader(key=f"upload-A-{other}")
    at.run()
    assert picker(at, "Song").value == other


def test_the_song_follows_the_creator_into_a_new_session_and_the_address(
    open_page: OpenPage, services: Services
) -> None:
    apply_template(services, "first-song", "character-1")
    apply_template(services, "second-song", "character-2")
    save_plan(services, load_sample("minimal"), "sample minimal")
    at = open_page("pages/characters.py")
    picker(at, "Song").set_value("first-song").run()
    assert at.query_params["song"] == "first-song", "the song is in the address"
    assert services.records.songs.last_worked_on() == "first-song"

    fresh = open_page("pages/generate.py")  # a new tab: no session, no address
    assert not fresh.exception
    assert picker(fresh, "Song").value == "first-song", "Generate starts on the song last worked on"

    linked = AppTest.from_file(APP, default_timeout=30)
    linked.query_params["song"] = "second-song"
    linked.switch_page("pages/characters.py").run()
    assert picker(linked, "Song").value == "second-song", "a deep link opens on its song"
    assert services.records.songs.last_worked_on() == "second-song"

    unknown = AppTest.from_file(APP, default_timeout=30)
    unknown.query_params["song"] = "../etc"
    unknown.switch_page("pages/generate.py").run()
    assert not unknown.exception and any("does not know" in w.value for w in unknown.warning)
    assert picker(unknown, "Song").value == "second-song"
