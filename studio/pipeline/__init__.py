"""Reference generation for a scene plan: the run, one reference (`task.py`), the outcome (`result.py`)."""

from studio.pipeline.result import partial_success
from studio.pipeline.run import generate_references

__all__ = ["generate_references", "partial_success"]
