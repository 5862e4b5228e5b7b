"""Supabase Storage specifics, the real client against the in-project test server: keys, faults, buckets."""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from studio.errors import InvalidInput, NotFound, StudioError
from studio.services import build_services
from studio.settings import Settings
from studio.storage.base import Storage
from studio.storage.supabase import SupabaseStorage, SupabaseStorageError
from tests.servers.supabase_storage import Seen, StoredObject, SupabaseStorageServer

BUCKET = "reference-images"
KEY = "job-1/scene_a.png"
ROOT = Path(__file__).resolve().parents[3]


def test_it_is_a_storage_backend(supabase_storage: SupabaseStorage) -> None:
    assert isinstance(supabase_storage, Storage)
    assert supabase_storage.name == "supabase"


def test_upload_sends_the_real_content_type_with_upsert(
    supabase_storage: SupabaseStorage, supabase_server: SupabaseStorageServer
) -> None:
    supabase_storage.put(BUCKET, KEY, b"one", "image/png")
    supabase_storage.put(BUCKET, KEY, b"two", "image/png")

    stored = supabase_server.objects[BUCKET, KEY]
    assert (stored.data, stored.content_type) == (b"two", "image/png")
    signed = httpx.get(supabase_storage.signed_url(BUCKET, KEY, 60))
    assert signed.headers["content-type"] == "image/png"


def test_a_wrong_key_gives_a_clear_error_without_the_key(supabase_server: SupabaseStorageServer) -> None:
    wrong = "sb_secret_not-the-right-one"
    storage = SupabaseStorage(supabase_server.url, wrong)
    try:
        with pytest.raises(SupabaseStorageError, match="SUPABASE_KEY") as raised:
            storage.put(BUCKET, KEY, b"x", "image/png")
    finally:
        storage.close()
    assert raised.value.status == 401
    assert not raised.value.retryable
    assert wrong not in str(raised.value)
    assert supabase_server.objects == {}


def test_a_server_error_surfaces_as_a_retryable_studio_error(
    supabase_storage: SupabaseStorage, supabase_server: SupabaseStorageServer
) -> None:
    supabase_storage.put(BUCKET, KEY, b"x", "image/png")
    supabase_server.fault = lambda seen: 503 if seen.method == "GET" else None

    with pytest.raises(StudioError) as raised:
        supabase_storage.get(BUCKET, KEY)
    assert isinstance(raised.value, SupabaseStorageError)
    assert (raised.value.status, raised.value.retryable) == (503, True)

    supabase_server.fault = lambda seen: 500 if seen.path.startswith("/object/list") else None
    with pytest.raises(SupabaseStorageError, match="HTTP 500"):
        supabase_storage.list(BUCKET)

    supabase_server.fault = None
    assert supabase_storage.get(BUCKET, KEY) == b"x"


def test_an_unreachable_server_is_a_retryable_studio_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = SupabaseStorage(f"http://127.0.0.1:{port}", "sb_secret_x")
    try:
        with pytest.raises(SupabaseStorageError, match="could not be reached") as raised:
            storage.exists(BUCKET, KEY)
    finally:
        storage.close()
    assert raised.value.status is None and raised.value.retryable


def test_the_bucket_is_checked_once_per_instance_and_created_private(
    supabase_storage: SupabaseStorage, supabase_server: SupabaseStorageServer
) -> None:
    for n in range(3):
        supabase_storage.put(BUCKET, f"job-1/scene_{n}.png", b"x", "image/png")
    supabase_storage.list(BUCKET)

    assert supabase_server.count("GET", f"/bucket/{BUCKET}") == 1
    assert supabase_server.bucket_creations == [{"id": BUCKET, "name": BUCKET, "public": False}]


def test_an_existing_bucket_is_used_as_it_is(supabase_server: SupabaseStorageServer) -> None:
    supabase_server.add_bucket(BUCKET)
    storage = SupabaseStorage(supabase_server.url, supabase_server.key)
    try:
        storage.put(BUCKET, KEY, b"x", "image/png")
    finally:
        storage.close()

    assert supabase_server.bucket_creations == []


def test_a_bucket_created_meanwhile_by_someone_else_is_fine(supabase_server: SupabaseStorageServer) -> None:
    def created_meanwhile(seen: Seen) -> int | None:
        if seen == Seen("POST", "/bucket"):
            supabase_server.add_bucket(BUCKET)
        return None

    supabase_server.fault = created_meanwhile
    storage = SupabaseStorage(supabase_server.url, supabase_server.key)
    try:
        storage.put(BUCKET, KEY, b"x", "image/png")
    finally:
        storage.close()

    assert supabase_server.objects[BUCKET, KEY].data == b"x"


def test_list_pages_through_large_folders(
    supabase_storage: SupabaseStorage, supabase_server: SupabaseStorageServer
) -> None:
    supabase_storage.put(BUCKET, "job-1/versions/scene_a_v1.png", b"x", "image/png")
    for n in range(1_050):
        supabase_server.objects[BUCKET, f"job-1/scene_{n:04}.png"] = StoredObject(b"x", "image/png")

    keys = supabase_storage.list(BUCKET, "job-1/")

    assert len(keys) == 1_051
    assert keys[0] == "job-1/scene_0000.png" and keys[-1] == "job-1/versions/scene_a_v1.png"
    assert supabase_server.count("POST", "/object/list") == 3  # job-1 twice (two pages), job-1/versions once


def test_signed_urls_are_absolute_and_refused_when_tampered_or_expired(
    supabase_storage: SupabaseStorage, supabase_server: SupabaseStorageServer
) -> None:
    supabase_storage.put(BUCKET, KEY, b"x", "image/png")
    url = supabase_storage.signed_url(BUCKET, KEY, 60)

    assert url.startswith(f"{supabase_server.url}/storage/v1/object/sign/{BUCKET}/{KEY}?token=")
    assert httpx.get(url.replace("scene_a", "scene_b")).status_code == 400
    assert httpx.get(url[:-3] + "AAA").status_code == 400
    start = supabase_server.clock()
    supabase_server.clock = lambda: start + 61
    assert httpx.get(url).status_code == 400


def test_exists_and_content_type_of_a_missing_object(supabase_storage: SupabaseStorage) -> None:
    assert not supabase_storage.exists(BUCKET, KEY)
    with pytest.raises(NotFound):
        supabase_storage.content_type(BUCKET, KEY)


def test_an_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        SupabaseStorage("localhost:54321", "sb_secret_x")
    assert raised.value.field == "SUPABASE_URL"


def test_latency_is_injected_and_requests_are_counted(supabase_server: SupabaseStorageServer) -> None:
    supabase_server.latency = 0.05
    headers = {"apikey": supabase_server.key, "Authorization": f"Bearer {supabase_server.key}"}

    response = httpx.get(f"{supabase_server.url}/storage/v1/bucket", headers=headers)

    assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.05
    assert supabase_server.requests == [Seen("GET", "/bucket")]


def test_a_wrong_bearer_token_is_forbidden(supabase_server: SupabaseStorageServer) -> None:
    headers = {"apikey": supabase_server.key, "Authorization": "Bearer someone-else"}

    response = httpx.get(f"{supabase_server.url}/storage/v1/bucket", headers=headers)

    assert response.status_code == 403
    assert response.json()["statusCode"] == "403"


def test_the_server_starts_by_hand_and_prints_what_to_set() -> None:
    command = [
        sys.executable,
        "-m",
        "tests.servers.supabase_storage",
        "--port",
        "0",
        "--key",
        "sb_secret_by_hand",
    ]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip().removeprefix("SUPABASE_URL=")
            assert process.stdout.readline().strip() == "SUPABASE_KEY=sb_secret_by_hand"
            storage = SupabaseStorage(url, "sb_secret_by_hand")
            try:
                storage.put(BUCKET, KEY, b"by hand", "image/png")
                assert storage.get(BUCKET, KEY) == b"by hand"
            finally:
                storage.close()
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_concurrent_writers_share_one_instance(
    supabase_storage: SupabaseStorage, supabase_server: SupabaseStorageServer
) -> None:
    supabase_server.latency = 0.01
    keys = [f"job-1/scene_{n}.png" for n in range(16)]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: supabase_storage.put(BUCKET, key, key.encode(), "image/png"), keys))

    assert supabase_storage.list(BUCKET, "job-1") == sorted(keys)
    assert all(supabase_server.objects[BUCKET, key].data == key.encode() for key in keys)
    assert supabase_server.bucket_creations == [{"id": BUCKET, "name": BUCKET, "public": False}]


def test_build_services_picks_it_when_configured(
    supabase_server: SupabaseStorageServer, data_dir: Path
) -> None:
    settings = Settings(
        data_dir=data_dir,
        storage="supabase",
        supabase_url=supabase_server.url,
        supabase_key=supabase_server.key,
    )
    services = build_services(settings)
    try:
        assert isinstance(services.storage, SupabaseStorage)
        services.storage.put(BUCKET, KEY, b"x", "image/png")
        assert supabase_server.objects[BUCKET, KEY].data == b"x"
    finally:
        services.storage.close()
        services.close()
