"""An in-memory Supabase Storage API on 127.0.0.1 that the real `supabase` / `storage3` client talks to.

It answers exactly the requests storage3 2.34 sends under `{SUPABASE_URL}/storage/v1/` (read from its
`_sync/file_api.py` and `_sync/bucket.py`): multipart uploads with `x-upsert`, authenticated download, object
info, signed URLs (an HS256 JWT, as Supabase signs them) and their GET, copy, delete by prefixes, folder
listings and buckets. It checks `apikey` and the bearer key like the gateway and storage do, injects latency
and faults, and counts requests. It is also a pytest plugin (listed in tests/conftest.py) giving the
`supabase_server` fixture. By hand: `python -m tests.servers.supabase_storage --port 54321`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from tests.servers.http import LocalServer, TrackedHandler

PREFIX = "/storage/v1"
_STAMPS = ("updated_at", "created_at", "last_accessed_at")


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it: the method and the path under /storage/v1 (no query)."""

    method: str
    path: str


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str = "3600"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


class Reply(Exception):
    """A response decided part-way through handling: status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(status: int, error: str, message: str) -> Reply:
    return Reply(status, {"statusCode": str(status), "error": error, "message": message})


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """Form fields of a multipart/form-data body: name -> (part content type, bytes)."""
    boundary = next((p.split("=", 1)[1].strip('"') for p in content_type.split(";") if "boundary=" in p), "")
    if not content_type.startswith("multipart/form-data") or not boundary:
        raise _error(400, "InvalidRequest", "expected multipart/form-data")
    fields: dict[str, tuple[str, bytes]] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in head.decode().split("\r\n"))
        )
        disposition = [p.strip() for p in headers.get("content-disposition", "").split(";")]
        name = next((p.split("=", 1)[1].strip('"') for p in disposition if p.startswith("name=")), "")
        fields[name] = (headers.get("content-type", "text/plain"), data.removesuffix(b"\r\n"))
    return fields


class SupabaseStorageServer(LocalServer):
    """The server and its state; tests read `objects`, `buckets`, `bucket_creations` and `requests`.

    `latency` (seconds) delays every request; `fault(Seen) -> status | None` may answer a request with an
    error status instead (e.g. 503); `clock` is the time signed URLs are checked against.
    """

    thread_name = "supabase-storage"

    def __init__(
        self,
        key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        fault: Callable[[Seen], int | None] | None = None,
    ) -> None:
        self.key = key or "sb_secret_" + secrets.token_urlsafe(24)
        self.latency = latency
        self.fault = fault
        self.clock: Callable[[], float] = time.time
        self.buckets: dict[str, dict[str, Any]] = {}
        self.bucket_creations: list[dict[str, Any]] = []
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.requests: list[Seen] = []
        self._jwt_secret = secrets.token_bytes(32)
        self._listen(host, port, _handler_for(self))

    @property
    def url(self) -> str:
        """What SUPABASE_URL should be: the client appends /storage/v1/ itself."""
        host, port = self.address
        return f"http://{host}:{port}"

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many requests matched `method` (any when None) and began with `path_prefix`."""
        with self._lock:
            return sum(
                1
                for s in self.requests
                if (method is None or s.method == method) and s.path.startswith(path_prefix)
            )

    def add_bucket(self, bucket: str, *, public: bool = False, name: str | None = None) -> dict[str, Any]:
        """Create a bucket directly, as if made earlier in the dashboard."""
        now = _iso(time.time())
        limits = dict.fromkeys(("file_size_limit", "allowed_mime_types"))
        stamps = {"created_at": now, "updated_at": now, "type": "STANDARD"}
        self.buckets[bucket] = (
            {"id": bucket, "name": name or bucket, "owner": "", "public": public} | limits | stamps
        )
        return self.buckets[bucket]

    def sign(self, bucket: str, path: str, expires_in: int) -> str:
        now = int(self.clock())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({"url": f"{bucket}/{path}", "iat": now, "exp": now + expires_in}).encode())
        return f"{header}.{payload}.{self._mac(f'{header}.{payload}')}"

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._jwt_secret, text.encode(), hashlib.sha256).digest())

    def check_token(self, token: str, bucket: str, path: str) -> None:
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if not signature or not hmac.compare_digest(signature, self._mac(f"{header}.{payload}")):
            raise _error(400, "InvalidJWT", "invalid signature")
        claims = json.loads(_unb64(payload))
        if claims.get("url") != f"{bucket}/{path}":
            raise _error(400, "InvalidSignature", "the url does not match the token")
        if self.clock() >= claims["exp"]:
            raise _error(400, "InvalidJWT", "jwt expired")

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Reply:
        """Route one request; the answer is a Reply (its body bytes for a download, else JSON)."""
        parts = [unquote(p) for p in path.removeprefix(PREFIX).strip("/").split("/")]
        if parts[:2] == ["object", "sign"] and method == "GET":
            bucket, key = parts[2], "/".join(parts[3:])
            self.check_token(query.get("token", [""])[0], bucket, key)
            with self._lock:
                return Reply(200, self._object(bucket, key))
        if headers.get("apikey") != self.key:
            raise Reply(401, {"message": "Invalid API key"})  # the gateway's answer, not storage's
        if headers.get("authorization") != f"Bearer {self.key}":
            raise _error(403, "Unauthorized", "invalid signature")
        is_json = headers.get("content-type", "").startswith("application/json")
        payload = json.loads(body) if body and is_json else {}
        with self._lock:
            return self._route(method, parts, payload, headers, body)

    def _route(self, method: str, parts: list[str], payload: Any, headers: Any, body: bytes) -> Reply:
        match method, parts:
            case "GET", ["bucket"]:
                return Reply(200, list(self.buckets.values()))
            case "GET", ["bucket", bucket]:
                return Reply(200, self._bucket(bucket))
            case "POST", ["bucket"]:
                return self._create_bucket(payload)
            case "POST", ["object", "list", bucket]:
                return self._list(bucket, payload)
            case "POST", ["object", "sign", bucket, *rest]:
                self._object(bucket, "/".join(rest))
                token = self.sign(bucket, "/".join(rest), int(payload.get("expiresIn", 0)))
                return Reply(
                    200, {"signedURL": f"/object/sign/{bucket}/{quote('/'.join(rest))}?token={token}"}
                )
            case "GET", ["object", "info", bucket, *rest]:
                return Reply(200, self._info(bucket, "/".join(rest)))
            case "POST", ["object", "copy"]:
                return self._copy(payload, upsert=headers.get("x-upsert") == "true")
            case "DELETE", ["object", bucket]:
                self._bucket(bucket)
                gone = [
                    self.objects.pop((bucket, key))
                    for key in payload.get("prefixes", [])
                    if (bucket, key) in self.objects
                ]
                return Reply(200, [{"id": o.id, "bucket_id": bucket} for o in gone])
            case "POST" | "PUT", ["object", bucket, *rest] if rest:
                return self._upload(method, bucket, "/".join(rest), headers, body)
            case "GET", ["object", "authenticated", bucket, *rest] | ["object", bucket, *rest] if rest:
                return Reply(200, self._object(bucket, "/".join(rest)))
        raise _error(400, "InvalidRequest", f"no route for {method} /{'/'.join(parts)}")

    def _bucket(self, bucket: str) -> dict[str, Any]:
        if bucket not in self.buckets:
            raise _error(404, "Bucket not found", "Bucket not found")
        return self.buckets[bucket]

    def _object(self, bucket: str, key: str) -> StoredObject:
        self._bucket(bucket)
        if (bucket, key) not in self.objects:
            raise _error(404, "not_found", "Object not found")
        return self.objects[bucket, key]

    def _create_bucket(self, payload: dict[str, Any]) -> Reply:
        self.bucket_creations.append(dict(payload))
        if payload["id"] in self.buckets:
            raise _error(409, "Duplicate", "The resource already exists")
        self.add_bucket(payload["id"], public=bool(payload.get("public", False)), name=payload.get("name"))
        return Reply(200, {"name": payload["id"]})

    def _upload(self, method: str, bucket: str, key: str, headers: Any, body: bytes) -> Reply:
        self._bucket(bucket)
        fields = _multipart(headers.get("content-type", ""), body)
        if "file" not in fields:
            raise _error(400, "InvalidRequest", "no file in the form")
        exists = (bucket, key) in self.objects
        if method == "POST" and exists and headers.get("x-upsert") != "true":
            raise _error(409, "Duplicate", "The resource already exists")
        if method == "PUT" and not exists:
            raise _error(404, "not_found", "Object not found")
        content_type, data = fields["file"]
        cache_control = fields.get("cacheControl", ("", b"3600"))[1].decode()
        previous = self.objects.get((bucket, key))
        stored = StoredObject(data, content_type, cache_control)
        if previous:
            stored.id, stored.created = previous.id, previous.created
        self.objects[bucket, key] = stored
        return Reply(200, {"Id": stored.id, "Key": f"{bucket}/{key}"})

    def _info(self, bucket: str, key: str) -> dict[str, Any]:
        stored = self._object(bucket, key)
        info = {"id": stored.id, "name": key, "bucket_id": bucket, "size": len(stored.data), "metadata": {}}
        times = {"last_modified": _iso(stored.updated), "created_at": _iso(stored.created)}
        return info | times | {"content_type": stored.content_type, "cache_control": stored.cache_control}

    def _copy(self, payload: dict[str, Any], upsert: bool) -> Reply:
        bucket, source, destination = (
            str(payload.get(k, "")) for k in ("bucketId", "sourceKey", "destinationKey")
        )
        stored = self._object(bucket, source)
        if (bucket, destination) in self.objects and not upsert:
            raise _error(409, "Duplicate", "The resource already exists")
        self.objects[bucket, destination] = StoredObject(
            stored.data, stored.content_type, stored.cache_control
        )
        return Reply(200, {"Key": f"{bucket}/{destination}"})

    def _list(self, bucket: str, payload: dict[str, Any]) -> Reply:
        self._bucket(bucket)
        folder = str(payload.get("prefix", "")).strip("/")
        start = f"{folder}/" if folder else ""
        entries: dict[str, dict[str, Any]] = {}
        for (owner, key), stored in self.objects.items():
            if owner != bucket or not key.startswith(start):
                continue
            name, slash, _ = key[len(start) :].partition("/")
            if slash:
                entries.setdefault(name, {"name": name} | dict.fromkeys((*_STAMPS, "id", "metadata")))
            else:
                metadata = {"size": len(stored.data), "mimetype": stored.content_type, "httpStatusCode": 200}
                stamps = dict.fromkeys(_STAMPS, _iso(stored.updated))
                entries[name] = {"name": name, "id": stored.id, "metadata": metadata} | stamps
        search = str(payload.get("search") or "")
        order = payload.get("sortBy", {}).get("order", "asc")
        names = sorted((n for n in entries if n.startswith(search)), reverse=order == "desc")
        offset, limit = int(payload.get("offset", 0)), int(payload.get("limit", 100))
        return Reply(200, [entries[n] for n in names[offset : offset + limit]])


def _handler_for(server: SupabaseStorageServer) -> type[TrackedHandler]:
    class Handler(TrackedHandler):
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            split = urlsplit(self.path)
            seen = Seen(self.command, split.path.removeprefix(PREFIX))
            with server._lock:
                server.requests.append(seen)
            if server.latency:
                time.sleep(server.latency)
            try:
                status = server.fault(seen) if server.fault else None
                if status:
                    raise _error(
                        status, "InternalError" if status < 503 else "ServiceUnavailable", "injected fault"
                    )
                if not split.path.startswith(PREFIX + "/"):
                    raise _error(404, "not_found", "not a storage path")
                reply = server.handle(self.command, split.path, parse_qs(split.query), self.headers, body)
            except Reply as answer:
                reply = answer
            except Exception as error:
                reply = _error(500, "InternalError", f"test server failed: {error!r}")
            if isinstance(reply.body, StoredObject):
                content, content_type = reply.body.data, reply.body.content_type
            else:
                content, content_type = json.dumps(reply.body).encode(), "application/json"
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@pytest.fixture
def supabase_server() -> Iterator[SupabaseStorageServer]:
    """A fresh in-memory Supabase Storage API on 127.0.0.1, stopped (with its threads) after the test."""
    before = set(threading.enumerate())
    with SupabaseStorageServer() as server:
        yield server
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description="In-memory Supabase Storage API for trying the studio by hand."
    )
    parser.add_argument("--port", type=int, default=54321)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--key", default=None, help="the key clients must send (default: a random one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    args = parser.parse_args()
    server = SupabaseStorageServer(args.key, host=args.host, port=args.port, latency=args.latency)
    server.serve_until_interrupted(f"SUPABASE_URL={server.url}\nSUPABASE_KEY={server.key}")


if __name__ == "__main__":
    main()
