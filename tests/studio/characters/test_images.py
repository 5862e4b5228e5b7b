"""Upload validation: formats by their bytes, hostile files refused, clean re-encoded output."""

from __future__ import annotations

import pytest

from studio.characters.images import MAX_UPLOAD_BYTES, prepare_character_image, sniff_content_type
from studio.errors import InvalidInput
from tests.studio.characters import samples


@pytest.mark.parametrize(
    ("data", "fmt", "extension", "content_type"),
    [
        (samples.png(), "PNG", "png", "image/png"),
        (samples.jpeg(), "JPEG", "jpg", "image/jpeg"),
        (samples.webp(), "WEBP", "webp", "image/webp"),
    ],
    ids=["png", "jpeg", "webp"],
)
def test_accepted_formats_keep_their_format_and_say_so(
    data: bytes, fmt: str, extension: str, content_type: str
) -> None:
    image = prepare_character_image(data)
    assert (image.format, image.extension, image.content_type) == (fmt, extension, content_type)
    assert samples.decode(image.data).format == fmt
    assert sniff_content_type(image.data) == content_type
    assert (image.width, image.height) == (60, 80)


def test_a_phone_cameras_multi_picture_jpeg_is_accepted_as_its_first_frame() -> None:
    data = samples.mpo()
    assert samples.decode(data).format == "MPO" and samples.decode(data).n_frames == 2  # type: ignore[attr-defined]
    image = prepare_character_image(data)
    assert (image.format, image.extension, image.content_type) == ("JPEG", "jpg", "image/jpeg")
    stored = samples.decode(image.data)
    assert stored.format == "JPEG" and getattr(stored, "n_frames", 1) == 1
    assert (image.width, image.height) == (60, 80)
    red, _, blue = stored.convert("RGB").getpixel((30, 40))  # type: ignore[misc]
    assert red > 180 and blue < 80, "the first frame is kept"
    assert sniff_content_type(data) == "image/jpeg"


def refusal(data: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        prepare_character_image(data)
    assert caught.value.field == "image"
    return caught.value


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"just some text, not an image", "is not a PNG, JPEG or WebP image"),
        (b"%PDF-1.7\n" + b"0" * 100, "is not a PNG, JPEG or WebP image"),
        (samples.still_gif(), "is a GIF image; only PNG, JPEG and WebP are accepted"),
        (samples.animated_gif(), "is a GIF image"),
        (samples.animated_png(), "is an animated PNG (2 frames); upload a still image"),
        (samples.animated_webp(), "is an animated WEBP (2 frames)"),
        (samples.truncated(samples.noisy_png()), "truncated or corrupt"),
        (samples.truncated(samples.noisy_jpeg()), "truncated or corrupt"),
    ],
    ids=[
        "empty",
        "text",
        "pdf",
        "gif",
        "animated-gif",
        "apng",
        "animated-webp",
        "truncated-png",
        "truncated-jpeg",
    ],
)
def test_hostile_files_are_refused_with_the_problem_named(data: bytes, words: str) -> None:
    assert words in refusal(data).problem


def test_a_header_claiming_400_megapixels_is_refused_without_decoding() -> None:
    bomb = samples.png_claiming(20_000, 20_000)
    assert len(bomb) < 200
    assert "larger than 40 megapixels" in refusal(bomb).problem


def test_over_40_megapixels_is_refused_by_our_own_limit_before_decoding() -> None:
    # 50 MP is under Pillow's own warning threshold (89 MP): our check is what refuses it, and the file's
    # pixel data is a stub that would fail to decode, so the refusal cannot have come from decoding.
    problem = refusal(samples.png_claiming(10_000, 5_000)).problem
    assert problem == "is 10000x5000 (50.0 megapixels); at most 40 are allowed"


def test_files_over_20_megabytes_are_refused_before_anything_else() -> None:
    assert "at most 20 MB" in refusal(b"\x89PNG" + b"\x00" * MAX_UPLOAD_BYTES).problem


def test_cmyk_jpeg_is_accepted_and_converted_to_rgb() -> None:
    image = prepare_character_image(samples.cmyk_jpeg())
    decoded = samples.decode(image.data)
    assert (image.format, decoded.mode) == ("JPEG", "RGB")
    red, green, blue = decoded.getpixel((16, 16))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied_and_metadata_stripped() -> None:
    image = prepare_character_image(samples.jpeg_rotated_by_exif())
    decoded = samples.decode(image.data)
    assert decoded.size == (20, 40)  # turned upright
    top, bottom = decoded.getpixel((10, 5)), decoded.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # type: ignore[index]  # the red half is now on top
    assert bottom[2] > 200 and bottom[0] < 60  # type: ignore[index]
    assert "exif" not in decoded.info and not decoded.getexif()
    assert b"Studio Test Camera" not in image.data


def test_png_text_chunks_are_stripped() -> None:
    image = prepare_character_image(samples.png_with_metadata())
    decoded = samples.decode(image.data)
    assert "Author" not in decoded.info and "parameters" not in decoded.info
    assert b"someone private" not in image.data


@pytest.mark.parametrize(("mode", "expected"), [("P", "RGBA"), ("LA", "RGBA"), ("L", "RGB"), ("I;16", "RGB")])
def test_palette_and_grey_images_become_rgb_or_rgba(mode: str, expected: str) -> None:
    from PIL import Image

    options = {"transparency": 0} if mode == "P" else {}
    data = samples.encode(Image.new(mode, (12, 12)), "PNG", **options)
    assert samples.decode(prepare_character_image(data).data).mode == expected


def test_a_different_field_name_is_used_in_the_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare_character_image(b"nope", field="IMAGE upload.png")
    assert str(caught.value).startswith("IMAGE upload.png: ")
