"""Turn what a caller has in hand (a path, bytes, an s3:// URL) into Rekognition's `Image` parameter.

Every helper takes images the same way, so a script can switch between local files and S3 objects
without changing the call. Local images over Rekognition's 5 MB limit for `Image.Bytes` can be
re-encoded to fit (`reencode.py`); S3 objects are passed by reference and never read here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from .reencode import MAX_IMAGE_BYTES, shrink_to_limit

# A local path (str or PathLike), raw bytes, an "s3://bucket/key" string, or a ready `Image` dict.
ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | Mapping[str, Any]

S3_PREFIX = "s3://"


def parse_s3_url(url: str) -> dict[str, str]:
    """`s3://bucket/key/with/slashes` → `{"Bucket": "bucket", "Name": "key/with/slashes"}` (an `S3Object`)."""
    if not url.startswith(S3_PREFIX):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[len(S3_PREFIX):].partition("/")
    if not bucket or not key:
        raise ValueError(f"an S3 image needs s3://BUCKET/KEY, got {url!r}")
    return {"Bucket": bucket, "Name": key}


def is_s3_url(source: object) -> bool:
    """True for a string naming an S3 object (`s3://...`), which is sent by reference."""
    return isinstance(source, str) and source.startswith(S3_PREFIX)


def image_param(source: ImageSource, reencode_over_5mb: bool = True) -> dict[str, Any]:
    """Rekognition's `Image` for `source`.

    - `"s3://bucket/key"` → `{"S3Object": {...}}` (the service reads it; nothing is downloaded here);
    - bytes → `{"Bytes": ...}`; a path → the file's bytes;
    - a mapping (already an `Image`, e.g. `{"S3Object": {..., "Version": "..."}}`) is passed through.

    Bytes over 5 MB (5,242,880) are re-encoded as JPEG to fit when `reencode_over_5mb` is true, since the
    service would refuse them with `ImageTooLargeException`; otherwise they are sent as they are and the
    service's error comes back to the caller.
    """
    if isinstance(source, Mapping):
        return dict(source)
    if is_s3_url(source):
        assert isinstance(source, str)
        return {"S3Object": parse_s3_url(source)}
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = Path(source).read_bytes()
    else:
        raise TypeError(f"an image is a path, bytes, an s3:// URL or an Image dict, not {type(source).__name__}")
    if reencode_over_5mb and len(data) > MAX_IMAGE_BYTES:
        data = shrink_to_limit(data)
    return {"Bytes": data}
