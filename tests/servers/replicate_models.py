"""Reference-conditioned models on the Replicate test server: input checks from each catalogued model's
schema, their one-URI outputs, and the files API's multipart uploads."""

from __future__ import annotations

import base64
import email.parser
import email.policy
from collections.abc import Callable
from typing import Any

from studio.generation.models import MAX_INLINE_BYTES
from tests.servers.replicate_sdxl import png_data_url

NANO_BANANA_ASPECT_RATIOS = {
    "match_input_image", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
    "1:4", "4:1", "1:8", "8:1",
}  # fmt: skip
NANO_BANANA_RESOLUTIONS = {"512", "1K", "2K", "4K"}
NANO_BANANA_FIELDS = {
    "prompt", "image_input", "aspect_ratio", "resolution", "google_search", "image_search", "output_format"
}  # fmt: skip


def data_url_problems(name: str, value: Any) -> list[str]:
    """Replicate takes data URLs only for files under 1 MB."""
    if isinstance(value, str) and value.startswith("data:"):
        payload = value.partition(",")[2]
        if len(payload) * 3 // 4 >= MAX_INLINE_BYTES:
            return [f"input.{name}: data URLs must be smaller than 1 MB (upload it with the files API)"]
    return []


def uri_problems(name: str, value: Any, known: Callable[[str], bool]) -> list[str]:
    if not isinstance(value, str) or not value.startswith(("http://", "https://", "data:")):
        return [f"input.{name}: Does not match format 'uri'"]
    if value.startswith("http") and not known(value):
        return [f"input.{name}: could not fetch {value}"]
    return data_url_problems(name, value)


def nano_banana_problems(known: Callable[[str], bool]) -> Callable[[dict[str, Any]], list[str]]:
    """google/nano-banana-2's input schema (its API page): prompt; image_input up to 14 URIs; enums."""

    def problems(inputs: dict[str, Any]) -> list[str]:
        found: list[str] = []
        unknown = set(inputs) - NANO_BANANA_FIELDS
        found += [f"input.{name}: Additional property {name} is not allowed" for name in sorted(unknown)]
        if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"]:
            found.append("input.prompt: prompt is required")
        images = inputs.get("image_input", [])
        if not isinstance(images, list) or len(images) > 14:
            found.append("input.image_input: Must be an array of at most 14 items")
        else:
            for n, image in enumerate(images):
                found += uri_problems(f"image_input.{n}", image, known)
        if inputs.get("aspect_ratio", "match_input_image") not in NANO_BANANA_ASPECT_RATIOS:
            found.append("input.aspect_ratio: Must be one of " + ", ".join(sorted(NANO_BANANA_ASPECT_RATIOS)))
        if inputs.get("resolution", "1K") not in NANO_BANANA_RESOLUTIONS:
            found.append("input.resolution: Must be one of " + ", ".join(sorted(NANO_BANANA_RESOLUTIONS)))
        if inputs.get("output_format", "jpg") not in {"jpg", "png"}:
            found.append("input.output_format: Must be one of jpg, png")
        return found

    return problems


def one_uri_output(add_file: Callable[[str, bytes, str], str]) -> Callable[[dict[str, Any]], str]:
    """A conditioned model's output: one URI of a small PNG served by the test server."""
    counter = iter(range(1_000_000))

    def output(inputs: dict[str, Any]) -> str:
        seed = len(inputs.get("image_input", []))
        url = png_data_url(32, 32, seed, str(inputs.get("prompt", "")))
        data = base64.b64decode(url.partition(",")[2])
        return add_file(f"output-{next(counter)}.png", data, "image/png")

    return output


def uploaded_file(content_type: str, body: bytes) -> tuple[str, bytes, str] | None:
    """The `content` part of a multipart upload: (filename, bytes, content type), or None."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "content":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return part.get_filename() or "file", data, part.get_content_type()
    return None
