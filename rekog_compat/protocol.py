"""AWS JSON 1.1 as Rekognition speaks it: targets, bodies and error documents."""

from __future__ import annotations

import json
import uuid
from typing import Any

from .errors import AwsError, SerializationException, UnknownOperationException, UnsupportedOperationException
from .service_model import operation_names

TARGET_PREFIX = "RekognitionService."
CONTENT_TYPE = "application/x-amz-json-1.1"


def new_request_id() -> str:
    return str(uuid.uuid4())


def operation_from_target(target: str | None, implemented: set[str] | frozenset[str]) -> str:
    """The operation an X-Amz-Target header names.

    Unknown targets get UnknownOperationException; operations of the real API
    this server does not implement get a 400 that names them.
    """
    if not target or not target.startswith(TARGET_PREFIX):
        raise UnknownOperationException(f"Unknown operation {target or '(no X-Amz-Target header)'}")
    name = target[len(TARGET_PREFIX):]
    if name in implemented:
        return name
    if name in operation_names():
        raise UnsupportedOperationException(f"Operation {name} is not supported by rekog-compat.")
    raise UnknownOperationException(f"Unknown operation {target}")


def _not_json(constant: str) -> Any:
    """Python's json reads NaN, Infinity and -Infinity; JSON (and AWS) has no such values."""
    raise ValueError(f"{constant} is not a JSON value")


def _has_unpaired_surrogate(value: Any) -> bool:
    """Whether a string anywhere in `value` holds a lone \\uD800-\\uDFFF escape (it has no UTF-8 form)."""
    pending = [value]
    while pending:  # iterative: the parser already bounds the depth, this must not add its own recursion
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body (an empty body is an empty object)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except RecursionError:  # nesting deeper than the interpreter's recursion limit (~1000 levels)
        raise SerializationException("Request body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise SerializationException("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SerializationException("Request body must be a JSON object.")
    if _has_unpaired_surrogate(body):
        raise SerializationException("Request body is not valid JSON: it holds an unpaired surrogate escape.")
    return body


def dump(document: dict[str, Any]) -> bytes:
    # A lone surrogate can only stand inside a JSON string, where backslashreplace writes exactly its JSON escape:
    # the answer is always valid UTF-8 JSON, whatever text reaches it.
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "backslashreplace")


def error_document(error: AwsError) -> dict[str, Any]:
    """The body AWS sends for an error (botocore reads __type and Message)."""
    return {"__type": error.code, "Code": error.code, "Message": error.message, "Logref": str(uuid.uuid4())}
