"""Check JSON values against botocore shapes: types, required members and constraints.

One walker serves both directions: the server validates requests with it (and
words the result as AWS does), and the tests validate every response body with
it, strictly, so that nothing the server sends falls outside the service model.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape


class ShapeTypeError(Exception):
    """A value has the wrong JSON type for its shape (AWS: SerializationException)."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        self.path = path
        self.expected = expected
        super().__init__(f"Expected {expected} at '{path or '<root>'}', got {type(value).__name__}")


@dataclass
class Violation:
    """One failed constraint, in the parts AWS's validation message is made of."""

    path: str
    value: Any
    constraint: str

    def message(self) -> str:
        shown = "null" if self.value is None else f"'{render_value(self.value)}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


@dataclass
class CheckResult:
    """What a walk found; `value` is the input with blobs decoded to bytes."""

    value: Any
    violations: list[Violation] = field(default_factory=list)
    unknown_members: list[str] = field(default_factory=list)


def render_value(value: Any) -> str:
    """Render a value the way AWS (Java) prints it inside validation messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={render_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def wire_name(member: str) -> str:
    """AWS's validation messages name members in lower camel case (CollectionId -> collectionId)."""
    return member[:1].lower() + member[1:]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    # Model patterns are Java regexes (\p{L} ...), matched against the whole value.
    return regex.compile(pattern)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class ShapeChecker:
    """Walks a value against a shape.

    `wire_blobs`: blobs arrive as base64 text (true for request and response bodies).
    `strict`: unknown structure members are recorded (used for responses in tests;
    requests ignore them, as AWS's JSON services do).
    """

    def __init__(self, *, wire_blobs: bool = True, strict: bool = False) -> None:
        self.wire_blobs = wire_blobs
        self.strict = strict

    def check(self, shape: Shape | None, value: Any) -> CheckResult:
        result = CheckResult(value=value)
        if shape is None:
            return result
        result.value = self._walk(shape, value, "", result)
        return result

    # -- per type ---------------------------------------------------------

    def _walk(self, shape: Shape, value: Any, path: str, result: CheckResult) -> Any:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self._structure(shape, value, path, result)
        if kind == "list":
            assert isinstance(shape, ListShape)
            return self._list(shape, value, path, result)
        if kind == "map":
            assert isinstance(shape, MapShape)
            return self._map(shape, value, path, result)
        if kind == "string":
            if not isinstance(value, str):
                raise ShapeTypeError(path, "string", value)
            result.violations.extend(self._scalar_violations(shape, value, path))
            return value
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ShapeTypeError(path, kind, value)
            result.violations.extend(self._scalar_violations(shape, value, path))
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ShapeTypeError(path, kind, value)
            result.violations.extend(self._scalar_violations(shape, value, path))
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ShapeTypeError(path, "boolean", value)
            return value
        if kind == "blob":
            return self._blob(shape, value, path, result)
        if kind == "timestamp":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ShapeTypeError(path, "timestamp", value)
            return value
        raise ShapeTypeError(path, kind, value)  # pragma: no cover - no other types in the model

    def _structure(self, shape: StructureShape, value: Any, path: str, result: CheckResult) -> dict:
        if not isinstance(value, dict):
            raise ShapeTypeError(path, "structure", value)
        out: dict[str, Any] = {}
        members = shape.members
        for name, member_shape in members.items():
            member_value = value.get(name)
            member_path = _join(path, wire_name(name))
            if member_value is None:
                if name in shape.required_members:
                    result.violations.append(Violation(member_path, None, "Member must not be null"))
                continue
            out[name] = self._walk(member_shape, member_value, member_path, result)
        if self.strict:
            result.unknown_members.extend(_join(path, k) for k in value if k not in members)
        return out

    def _list(self, shape: ListShape, value: Any, path: str, result: CheckResult) -> list:
        if not isinstance(value, list):
            raise ShapeTypeError(path, "list", value)
        result.violations.extend(self._size_violations(shape, value, path))
        inner = CheckResult(value=None)
        items = [self._walk(shape.member, item, path, inner) for item in value]
        self._fold_nested(inner, value, path, "Member must satisfy constraint", result)
        return items

    def _map(self, shape: MapShape, value: Any, path: str, result: CheckResult) -> dict:
        if not isinstance(value, dict):
            raise ShapeTypeError(path, "map", value)
        result.violations.extend(self._size_violations(shape, value, path))
        keys = CheckResult(value=None)
        values = CheckResult(value=None)
        out = {}
        for k, v in value.items():
            out[self._walk(shape.key, k, path, keys)] = self._walk(shape.value, v, path, values)
        self._fold_nested(keys, value, path, "Map keys must satisfy constraint", result)
        self._fold_nested(values, value, path, "Map value must satisfy constraint", result)
        return out

    def _blob(self, shape: Shape, value: Any, path: str, result: CheckResult) -> bytes:
        if self.wire_blobs:
            if not isinstance(value, str):
                raise ShapeTypeError(path, "blob (base64 string)", value)
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ShapeTypeError(path, "blob (base64 string)", value) from None
        elif isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        else:
            raise ShapeTypeError(path, "blob", value)
        result.violations.extend(self._size_violations(shape, data, path))
        return data

    # -- constraints ------------------------------------------------------

    @staticmethod
    def _fold_nested(inner: CheckResult, value: Any, path: str, label: str, result: CheckResult) -> None:
        """Nested item constraints are reported once, on the container, as AWS does."""
        scalar = [v.constraint for v in inner.violations if v.path == path]
        deeper = [v for v in inner.violations if v.path != path]
        if scalar:
            unique = list(dict.fromkeys(scalar))
            result.violations.append(Violation(path, value, f"{label}: [{', '.join(unique)}]"))
        result.violations.extend(deeper)
        result.unknown_members.extend(inner.unknown_members)

    @staticmethod
    def _size_violations(shape: Shape, value: Any, path: str) -> list[Violation]:
        meta = shape.metadata
        found = []
        if "min" in meta and len(value) < meta["min"]:
            found.append(Violation(path, value, f"Member must have length greater than or equal to {meta['min']}"))
        if "max" in meta and len(value) > meta["max"]:
            found.append(Violation(path, value, f"Member must have length less than or equal to {meta['max']}"))
        return found

    def _scalar_violations(self, shape: Shape, value: Any, path: str) -> list[Violation]:
        meta = shape.metadata
        if isinstance(value, str):
            found = self._size_violations(shape, value, path)
            enum = meta.get("enum")
            if enum and value not in enum:
                found.append(Violation(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
            pattern = meta.get("pattern")
            if pattern and not _compiled(pattern).fullmatch(value):
                found.append(
                    Violation(path, value, f"Member must satisfy regular expression pattern: {pattern}")
                )
            return found
        found = []
        if "min" in meta and value < meta["min"]:
            found.append(Violation(path, value, f"Member must have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            found.append(Violation(path, value, f"Member must have value less than or equal to {meta['max']}"))
        return found
