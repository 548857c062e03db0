"""Validate every successful raw response body against botocore's output shape."""

from __future__ import annotations

import json
from typing import Any

from botocore.model import OperationModel

from rekog_compat.shapes import ShapeChecker

_STRICT = ShapeChecker(wire_blobs=True, strict=True)


def output_problems(operation: OperationModel, body: Any) -> list[str]:
    """Everything in a response body that the operation's output shape does not allow."""
    shape = operation.output_shape
    if shape is None:
        return [] if body in ({}, None) else [f"{operation.name} has no output shape but returned {body!r}"]
    try:
        result = _STRICT.check(shape, body)
    except Exception as exc:  # wrong JSON type somewhere
        return [str(exc)]
    problems = [v.message() for v in result.violations]
    problems += [f"unknown member {m}" for m in result.unknown_members]
    problems += _timestamp_problems(shape, body)
    return problems


def _timestamp_problems(shape: Any, body: Any) -> list[str]:
    """AWS JSON 1.1 sends timestamps as epoch seconds (numbers), never strings."""
    problems = []
    if shape.type_name == "structure" and isinstance(body, dict):
        for name, member in shape.members.items():
            if name in body:
                if member.type_name == "timestamp" and not isinstance(body[name], (int, float)):
                    problems.append(f"{name} is not epoch seconds: {body[name]!r}")
                problems += _timestamp_problems(member, body[name])
    elif shape.type_name == "list" and isinstance(body, list):
        for item in body:
            problems += _timestamp_problems(shape.member, item)
    return problems


def install_output_validation(client: Any, seen: list[str]) -> None:
    """Make `client` fail any call whose 2xx body falls outside the output shape."""

    def check(http_response: Any, model: OperationModel, **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        raw = http_response.content
        body = json.loads(raw) if raw.strip() else {}
        problems = output_problems(model, body)
        seen.append(model.name)
        assert not problems, f"{model.name} response violates its output shape: {problems}"

    client.meta.events.register("after-call.rekognition", check)
