"""Validation errors of a plan in a creator's words: `scenes[2].description: must not be empty`.

Pydantic says "Input should be a finite number" at `('clip_scripts', 1, 'end')`; a creator reads
`clip_scripts[1].end: must be a finite number, not NaN or infinity`. Validators that know better where a
problem is (a duplicate id at `[3].id` of the list they check) raise `located(...)`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from studio.errors import Problem

_LOCATED = "plan_problem"
UUID_EXAMPLE = "00000000-0000-4000-8000-000000000001"


def located(at: str, message: str) -> PydanticCustomError:
    """A validator's problem, `at` a path below the value it checks (`[3].id`, `.end`, or "")."""
    return PydanticCustomError(_LOCATED, "{message}", {"message": message, "at": at})


def _number(value: Any) -> str:
    return f"{value:,g}" if isinstance(value, float) else f"{value:,}"


def _words(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    fixed = {
        "missing": "is required",
        "string_type": "must be text",
        "string_unicode": "must be text",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "finite_number": "must be a finite number, not NaN or infinity",
        "list_type": "must be a list",
        "model_type": "must be an object ({...})",
        "dict_type": "must be an object ({...})",
        "uuid_type": f"must be a UUID like {UUID_EXAMPLE}",
        "uuid_parsing": f"must be a UUID like {UUID_EXAMPLE}",
    }
    if kind == _LOCATED:
        return str(ctx["message"])
    if kind in fixed:
        return fixed[kind]
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx['ge'])}"
    if kind == "greater_than":
        return f"must be more than {_number(ctx['gt'])}"
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx['le'])}"
    if kind == "too_short":
        return "has none; at least one is needed" if ctx.get("min_length") == 1 else str(error["msg"])
    if kind == "too_long" and "actual_length" in ctx:
        actual, most = _number(ctx["actual_length"]), _number(ctx["max_length"])
        return f"has {actual} entries; at most {most} are allowed"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    return str(error["msg"]).removeprefix("Value error, ")


def field_path(loc: tuple[int | str, ...], at: str = "") -> str:
    """`('scenes', 2, 'description')` as `scenes[2].description`; the whole plan is `plan`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    path += at
    return path.lstrip(".") or "plan"


def problems_from(error: ValidationError) -> list[Problem]:
    """Every error of a validation, in order, each with its field path and a creator's words."""
    problems: list[Problem] = []
    for detail in error.errors():
        at = str((detail.get("ctx") or {}).get("at", "")) if detail["type"] == _LOCATED else ""
        problem = Problem(field_path(tuple(detail["loc"]), at), _words(detail))
        if problem not in problems:
            problems.append(problem)
    return problems
