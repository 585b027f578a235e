"""JSON-schema helpers shared by the LLM resource and its backends."""

from __future__ import annotations

from typing import Any


def without_string_lengths(schema: Any) -> Any:
    """The schema without minLength/maxLength, at any depth.

    Length caps steer constrained decoders (they end a small model's looping strings); some strict
    structured-output servers refuse them, and a too-long answer is no reason to reject it.
    """
    if isinstance(schema, dict):
        return {k: without_string_lengths(v) for k, v in schema.items() if k not in ("minLength", "maxLength")}
    if isinstance(schema, list):
        return [without_string_lengths(v) for v in schema]
    return schema
