"""The four template characters of the seed, drawn by scripts/render_templates.py and packaged here.

A pose's `key` is the path of its packaged PNG relative to the repository root
(`studio/characters/templates/character-1/pose-a.png`); read the bytes with `template_image`.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

from pydantic import BaseModel

from studio.errors import InvalidInput

PoseId = Literal["pose-a", "pose-b"]
POSES: tuple[PoseId, ...] = ("pose-a", "pose-b")
PACKAGE_PATH = "studio/characters/templates"


class TemplatePose(BaseModel):
    id: PoseId
    key: str
    """Packaged PNG, relative to the repository root."""
    thumbnail_key: str
    """Packaged WebP thumbnail (192x256), relative to the repository root."""


class TemplateCharacter(BaseModel):
    id: str
    name: str
    description: str
    poses: list[TemplatePose]
    default_pose: PoseId = "pose-a"


class TemplateList(BaseModel):
    templates: list[TemplateCharacter]


_SEED = (
    ("character-1", "Geometric Character", "clean, minimalist geometric design"),
    ("character-2", "Organic Character", "flowing, natural organic design"),
    ("character-3", "Abstract Character", "bold, abstract artistic design"),
    ("character-4", "Minimalist Character", "simple, elegant minimalist design"),
)


def _character(template_id: str, name: str, description: str) -> TemplateCharacter:
    poses = [
        TemplatePose(
            id=pose,
            key=f"{PACKAGE_PATH}/{template_id}/{pose}.png",
            thumbnail_key=f"{PACKAGE_PATH}/{template_id}/{pose}.thumb.webp",
        )
        for pose in POSES
    ]
    return TemplateCharacter(id=template_id, name=name, description=description, poses=poses)


TEMPLATES: tuple[TemplateCharacter, ...] = tuple(_character(*entry) for entry in _SEED)


def list_templates() -> TemplateList:
    return TemplateList(templates=list(TEMPLATES))


def get_template(template_id: str) -> TemplateCharacter:
    """The template with this id; InvalidInput naming `template_id` when there is none."""
    for template in TEMPLATES:
        if template.id == template_id:
            return template
    known = ", ".join(t.id for t in TEMPLATES)
    raise InvalidInput("template_id", f"{template_id!r} is not a template; choose one of {known}")


def template_name(template_id: str | None) -> str:
    """How a template is named to people: its name (`Organic Character`), else its id as recorded."""
    found = next((t for t in TEMPLATES if t.id == template_id), None)
    return found.name if found is not None else str(template_id)


def template_image(template_id: str, pose: PoseId, *, thumbnail: bool = False) -> bytes:
    """The packaged PNG of a pose (or its WebP thumbnail)."""
    get_template(template_id)
    if pose not in POSES:
        raise InvalidInput("pose", f"{pose!r} is not one of {', '.join(POSES)}")
    name = f"{pose}.thumb.webp" if thumbnail else f"{pose}.png"
    return resources.files(__name__).joinpath(template_id, name).read_bytes()
