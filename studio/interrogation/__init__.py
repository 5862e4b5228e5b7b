"""Interrogation (image-to-text) backends: a small base and its implementations beside it."""
