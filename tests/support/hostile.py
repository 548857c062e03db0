"""What every hostile or odd image must get: an answer, or one of the AWS errors an image can earn."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

IMAGE_ERRORS = {"InvalidImageFormatException", "ImageTooLargeException", "ValidationException"}


def assert_detect_faces_answers_or_refuses(client: Any, data: bytes, **params: Any) -> None:
    """DetectFaces of `data` answers a face list, or refuses with an image error and HTTP 400 (never a 5xx)."""
    try:
        response = client.detect_faces(Image={"Bytes": data}, **params)
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error.response["Error"]["Code"] in IMAGE_ERRORS
    else:
        assert isinstance(response["FaceDetails"], list)
