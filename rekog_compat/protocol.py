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


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body (an empty body is an empty object)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SerializationException("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SerializationException("Request body must be a JSON object.")
    return body


def dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def error_document(error: AwsError) -> dict[str, Any]:
    """The body AWS sends for an error (botocore reads __type and Message)."""
    return {"__type": error.code, "Code": error.code, "Message": error.message, "Logref": str(uuid.uuid4())}
