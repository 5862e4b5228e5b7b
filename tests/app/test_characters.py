"""Characters: template pick, uploads with the service layer's messages, and the resolution order."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from components.setup import SONG_KEY
from studio.characters.priority import resolve
from studio.records.songs import OPEN_STATUSES
from studio.services import Services
from tests.app.conftest import OpenPage
from tests.servers.openai import SHORT_ANSWER, OpenAIServer


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 128), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _song(open_page: OpenPage, song_id: str = "midnight-drive") -> AppTest:
    at = open_page("pages/characters.py")
    at.session_state[SONG_KEY] = song_id
    return at.run()


def _resolution(at: AppTest) -> list[str]:
    return list(at.dataframe[-1].value["source"])


def _wait_for_consistency(services: Services, song_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = services.records.songs.latest_job(song_id)
        if job is not None and job.status not in OPEN_STATUSES:
            return job.status
        time.sleep(0.05)
    raise AssertionError("the consistency job did not finish")


def test_a_title_becomes_the_new_songs_id(open_page: OpenPage, services: Services) -> None:
    at = open_page("pages/characters.py")
    at.text_input(key="new-song-id").set_value("Midnight Drive")
    at.get("form_submit_button")[0].click().run()
    assert not at.error and at.session_state[SONG_KEY] == "midnight-drive"
    assert services.records.songs.song("midnight-drive") is not None


def test_a_name_that_gives_no_id_is_refused_naming_the_field(open_page: OpenPage, services: Services) -> None:
    at = open_page("pages/characters.py")
    at.text_input(key="new-song-id").set_value("夜")
    at.get("form_submit_button")[0].click().run()
    assert any("song_id" in e.value for e in at.error)
    assert services.records.songs.all() == []


def test_picking_a_template_resolves_pose_a_then_pose_b(open_page: OpenPage, services: Services) -> None:
    at = _song(open_page)
    assert len(at.image) >= 4
    at.button(key="template-character-2").click().run()
    assert not at.exception
    assert _resolution(at) == ["template pose-a", "pose-b"]
    assert list(at.dataframe[-1].value["rank"]) == [1, 2]
    assert resolve(services, "midnight-drive").primary is not None


def test_an_upload_is_interrogated_and_the_generated_image_ranks_first(
    open_page: OpenPage, services: Services
) -> None:
    at = _song(open_page)
    at.file_uploader(key="upload-A-midnight-drive").upload("me.png", _png((200, 60, 40)), "image/png")
    at.run()
    at.button(key="store-A-midnight-drive").click().run()
    assert not at.error and any("queued" in s.value for s in at.success)
    assert _wait_for_consistency(services, "midnight-drive") == "completed"
    at.file_uploader(key="upload-B-midnight-drive").upload("b.png", _png((40, 90, 200)), "image/png")
    at.run()
    at.button(key="store-B-midnight-drive").click().run()
    assert _resolution(at) == ["generated", "reference", "pose-b"]
    assert [area.label for area in at.text_area] == ["Description", "Detailed prompt", "Style notes"]


def test_a_short_openai_interrogation_is_kept_and_its_note_shown(
    open_page: OpenPage, services: Services, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_server.answer.content = dict(SHORT_ANSWER)
    monkeypatch.setenv("OPENAI_API_KEY", openai_server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    at = _song(open_page)
    at.file_uploader(key="upload-A-midnight-drive").upload("me.png", _png((200, 60, 40)), "image/png")
    at.run()
    at.button(key="store-A-midnight-drive").click().run()
    assert _wait_for_consistency(services, "midnight-drive") == "completed"
    at.run()
    assert any(area.value == SHORT_ANSWER["detailed_prompt"] for area in at.text_area)
    assert any("Source: openai" in c.value for c in at.caption)
    notes = [i.value for i in at.info if i.value.startswith("Note:")]
    assert notes == [
        "Note: the description has 1 sentence; 2-3 were asked.",
        "Note: the detailed prompt has 18 words; 100-150 were asked.",
    ]


def test_an_invalid_upload_shows_the_service_message(open_page: OpenPage, services: Services) -> None:
    at = _song(open_page)
    at.file_uploader(key="upload-A-midnight-drive").upload("me.png", b"not an image at all", "image/png")
    at.run()
    at.button(key="store-A-midnight-drive").click().run()
    assert any("image" in e.value and "PNG, JPEG or WebP" in e.value for e in at.error)
    assert services.records.songs.song("midnight-drive") is None
