"""The four packaged template characters of the seed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from studio.characters.templates import get_template, list_templates, template_image
from studio.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[3]
SEED = {
    "character-1": ("Geometric Character", "clean, minimalist geometric design"),
    "character-2": ("Organic Character", "flowing, natural organic design"),
    "character-3": ("Abstract Character", "bold, abstract artistic design"),
    "character-4": ("Minimalist Character", "simple, elegant minimalist design"),
}


def test_the_four_templates_of_the_seed_with_two_poses_each() -> None:
    listing = list_templates().model_dump()
    assert [(t["id"], t["name"], t["description"]) for t in listing["templates"]] == [
        (key, *value) for key, value in SEED.items()
    ]
    for template in listing["templates"]:
        assert set(template) == {"id", "name", "description", "poses", "default_pose"}
        assert template["default_pose"] == "pose-a"
        assert [pose["id"] for pose in template["poses"]] == ["pose-a", "pose-b"]
        for pose in template["poses"]:
            assert (ROOT / pose["key"]).is_file() and pose["key"].endswith(".png")
            assert (ROOT / pose["thumbnail_key"]).is_file() and pose["thumbnail_key"].endswith(".webp")


@pytest.mark.parametrize("template_id", list(SEED))
def test_poses_are_768x1024_pngs_with_webp_thumbnails_and_differ(template_id: str) -> None:
    poses = {}
    for pose in ("pose-a", "pose-b"):
        image = Image.open(io.BytesIO(template_image(template_id, pose)))
        assert (image.format, image.size) == ("PNG", (768, 1024))
        poses[pose] = image.convert("RGB")
        thumbnail = Image.open(io.BytesIO(template_image(template_id, pose, thumbnail=True)))
        assert (thumbnail.format, thumbnail.size) == ("WEBP", (192, 256))
    difference = ImageStat.Stat(ImageChops.difference(poses["pose-a"], poses["pose-b"])).mean
    assert sum(difference) > 1.0  # the two poses are not the same picture


def test_the_four_styles_look_different() -> None:
    thumbs = [
        Image.open(io.BytesIO(template_image(t, "pose-a"))).convert("RGB").resize((48, 64)) for t in SEED
    ]
    for i, first in enumerate(thumbs):
        for second in thumbs[i + 1 :]:
            assert sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) > 20


def test_unknown_template_names_the_field_and_the_choices() -> None:
    with pytest.raises(InvalidInput) as caught:
        get_template("character-9")
    assert caught.value.field == "template_id"
    assert "character-1, character-2, character-3, character-4" in caught.value.problem
    with pytest.raises(InvalidInput):
        template_image("character-1", "pose-c")  # type: ignore[arg-type]


def test_render_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "render_templates", ROOT / "scripts" / "render_templates.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.render(tmp_path, only=("character-4",))  # one style keeps the test fast
    assert len(written) == 4
    for path in written:
        if path.suffix == ".png":
            fresh = Image.open(path).convert("RGB")
            committed = Image.open(ROOT / "studio/characters/templates" / path.relative_to(tmp_path)).convert(
                "RGB"
            )
            assert ImageChops.difference(fresh, committed).getbbox() is None, path
