"""Request validation driven by Rekognition's service model.

boto3 checks only required members, types and minimums on the client; the real
service also enforces maximums, patterns and enums. This module does all of it
and words failures exactly as AWS does.
"""

from __future__ import annotations

from typing import Any

from .errors import ImageTooLargeException, SerializationException, ValidationException
from .service_model import operation_model
from .shapes import ShapeChecker, ShapeTypeError, Violation

_REQUEST_CHECKER = ShapeChecker(wire_blobs=True, strict=False)


def _image_too_large(violation: Violation) -> bool:
    """Image.Bytes over the model's 5 MB: AWS answers ImageTooLargeException, not a validation error."""
    return violation.path.endswith("mage.bytes") and violation.constraint.startswith(
        "Member must have length less than or equal to"
    )


def validate_request(operation: str, body: Any) -> dict[str, Any]:
    """Check a parsed JSON body against the operation's input shape.

    Returns the parameters with base64 blobs decoded to bytes. Raises
    SerializationException for wrong JSON types and ValidationException listing
    every violated constraint.
    """
    shape = operation_model(operation).input_shape
    if shape is None:
        return {}
    try:
        result = _REQUEST_CHECKER.check(shape, body)
    except ShapeTypeError as exc:
        raise SerializationException(str(exc)) from None
    if any(_image_too_large(v) for v in result.violations):
        raise ImageTooLargeException()
    if result.violations:
        count = len(result.violations)
        noun = "error" if count == 1 else "errors"
        details = "; ".join(v.message() for v in result.violations)
        raise ValidationException(f"{count} validation {noun} detected: {details}")
    return dict(result.value)
