"""A request's `Image` member turned into decoded RGB pixels, accepting exactly what Rekognition accepts.

Rekognition takes JPEG and PNG only (decided by content, never by a name), at most 5 MB as `Bytes`
and 15 MB as an S3 object. Everything here is defensive: the input comes from the network, so a
hostile file must end as one of the AWS errors (`InvalidImageFormatException`,
`ImageTooLargeException`, `InvalidS3ObjectException`), never as a stray exception or an
out-of-memory decode. Pixel counts are checked from the header before any pixel is decoded, and the
data must hold every pixel the header declares (`image_integrity.py`).
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from PIL import ExifTags, Image
from urllib3.exceptions import HTTPError

from .errors import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
    InvalidS3ObjectException,
    VideoTooLargeException,
)
from .image_integrity import require_complete

MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Largest `Image.Bytes` Rekognition accepts (5,242,880 bytes)."""

MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024
"""Largest S3 object Rekognition accepts as an image."""

MAX_PIXELS = 40_000_000
"""Largest width*height decoded; checked from the header so a decompression bomb is never expanded.

It is below Pillow's own `Image.MAX_IMAGE_PIXELS` default (~89.5 MP), so nothing this module decodes
can trip Pillow's DecompressionBombWarning, and no global Pillow setting needs to change.
"""

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

S3_CONNECT_TIMEOUT_S = 3.0
S3_READ_TIMEOUT_S = 10.0
S3_MAX_RETRIES = 2

# What Pillow raises on malformed input: UnidentifiedImageError and "image file is truncated" are
# OSErrors; plugins also raise SyntaxError, struct.error, EOFError, ValueError and friends.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    ZeroDivisionError,
    OverflowError,
    struct.error,
)

# EXIF orientation -> the transpose that makes the image upright (the table of PIL.ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True)
class LoadedImage:
    """A decoded request image: upright RGB pixels plus the digest of the bytes as received."""

    rgb: np.ndarray  # HxWx3 uint8, C-contiguous, RGB, EXIF orientation already applied
    width: int
    height: int
    sha256: str  # hex digest of the raw image bytes as received (for audit logs)


class S3ImageReader:
    """Reads image objects from S3 (or an S3-compatible endpoint) the way Rekognition does.

    The boto3 client is created on first use, once, under a lock: creating it is slow, and boto3's
    default session is not thread-safe, while the server calls `read` from many request threads.
    """

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        """The shared S3 client, created on first call (its own Session, so no global state)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    config = Config(
                        connect_timeout=S3_CONNECT_TIMEOUT_S,
                        read_timeout=S3_READ_TIMEOUT_S,
                        retries={"mode": "standard", "max_attempts": S3_MAX_RETRIES},
                        # S3-compatible servers (MinIO, moto, Ceph) generally need path-style URLs.
                        s3={"addressing_style": "path"} if self.endpoint_url else None,
                    )
                    session = boto3.session.Session()
                    self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
                client = self._client
        return client

    def read(self, bucket: str, name: str, version: str | None) -> bytes:
        """The object's bytes; InvalidS3ObjectException when it cannot be read, ImageTooLarge over 15 MB.

        The size is checked from ContentLength before the body is read, and at most limit+1 bytes are
        ever read, so a huge (or lying) object cannot exhaust memory.
        """
        try:
            response = self._s3().get_object(**self._key(bucket, name, version))
            body = response["Body"]
            try:
                length = response.get("ContentLength")
                if isinstance(length, int) and length > MAX_S3_IMAGE_BYTES:
                    raise ImageTooLargeException()
                data: bytes = body.read(MAX_S3_IMAGE_BYTES + 1)
            finally:
                body.close()
        except (ClientError, BotoCoreError, HTTPError, OSError, ValueError) as exc:
            # NoSuchKey, NoSuchBucket, AccessDenied, no credentials, connection and read failures alike
            # (urllib3's HTTPError for stream errors botocore does not wrap): Rekognition answers all of
            # them with InvalidS3ObjectException.
            raise InvalidS3ObjectException() from exc
        if len(data) > MAX_S3_IMAGE_BYTES:
            raise ImageTooLargeException()
        return data

    @staticmethod
    def _key(bucket: str, name: str, version: str | None) -> dict[str, str]:
        return {"Bucket": bucket, "Key": name, **({"VersionId": version} if version else {})}

    def size(self, bucket: str, name: str, version: str | None) -> int:
        """The object's size in bytes (HEAD); InvalidS3ObjectException when it cannot be read."""
        try:
            length = self._s3().head_object(**self._key(bucket, name, version)).get("ContentLength")
        except (ClientError, BotoCoreError, HTTPError, OSError, ValueError) as exc:
            raise InvalidS3ObjectException() from exc
        return int(length or 0)

    def download(self, bucket: str, name: str, version: str | None, path: str, max_bytes: int) -> int:
        """Copy the object to `path` in chunks (a video may be gigabytes); its size. InvalidS3ObjectException
        when it cannot be read, VideoTooLargeException past `max_bytes` (at most max_bytes+1 are written)."""
        written = 0
        try:
            body = self._s3().get_object(**self._key(bucket, name, version))["Body"]
            try:
                with open(path, "wb") as out:
                    for chunk in iter(lambda: body.read(1 << 20), b""):
                        written += len(chunk)
                        if written > max_bytes:
                            raise VideoTooLargeException()
                        out.write(chunk)
            finally:
                body.close()
        except (ClientError, BotoCoreError, HTTPError, OSError, ValueError) as exc:
            raise InvalidS3ObjectException() from exc
        return written


def load_image(image: Mapping[str, Any], s3: S3ImageReader) -> LoadedImage:
    """Decode a request's `Image` member: exactly one of `Bytes` (already base64-decoded) or `S3Object`."""
    if not isinstance(image, Mapping):
        raise InvalidParameterException()
    raw = image.get("Bytes")
    s3_object = image.get("S3Object")
    if (raw is None) == (s3_object is None):
        raise InvalidParameterException()
    if raw is not None:
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise InvalidParameterException()
        data = raw if isinstance(raw, bytes) else bytes(raw)
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageTooLargeException()
        return decode_image(data)
    if not isinstance(s3_object, Mapping):
        raise InvalidParameterException()
    bucket, name, version = s3_object.get("Bucket"), s3_object.get("Name"), s3_object.get("Version")
    if not isinstance(bucket, str) or not bucket or not isinstance(name, str) or not name:
        # Without a bucket and key there is no object to read: the same answer as a missing object.
        raise InvalidS3ObjectException()
    return decode_image(s3.read(bucket, name, version if isinstance(version, str) and version else None))


def decode_image(data: bytes) -> LoadedImage:
    """Decode JPEG or PNG bytes to upright HxWx3 uint8 RGB, or raise the AWS error for them.

    The format comes from the magic bytes; the pixel count from the header, before decoding.
    """
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith(JPEG_MAGIC):
        fmt = "JPEG"
    elif data.startswith(PNG_MAGIC):
        fmt = "PNG"
    else:
        raise InvalidImageFormatException()
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise InvalidImageFormatException()
            if width * height > MAX_PIXELS:
                raise ImageTooLargeException()
            require_complete(data, fmt)
            im.load()
            rgb_image = _to_rgb(im)
            if fmt == "JPEG":  # Rekognition corrects orientation for JPEG only, never for PNG
                method = _ORIENTATION_TRANSPOSE.get(_exif_orientation(im))
                if method is not None:
                    rgb_image = rgb_image.transpose(method)
            rgb = np.array(rgb_image, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (e.g. when warnings are errors); our header check usually answers first.
        raise ImageTooLargeException() from exc
    except _DECODE_ERRORS as exc:
        raise InvalidImageFormatException() from exc
    rgb = np.ascontiguousarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidImageFormatException()
    return LoadedImage(rgb=rgb, width=int(rgb.shape[1]), height=int(rgb.shape[0]), sha256=digest)


def _exif_orientation(im: Image.Image) -> int:
    """The EXIF (or XMP) orientation of a loaded image; 1 when absent or when the EXIF cannot be parsed.

    A broken EXIF block must not fail an otherwise good photo, so every parse error means "upright".
    """
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
        return int(value)
    except Exception:
        return 1


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any JPEG/PNG colour mode as 8-bit RGB: alpha composited onto white, 16-bit scaled by >> 8."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        values = np.asarray(im)
        if mode == "I":  # 32-bit container of 16-bit samples (older Pillow's 16-bit PNG)
            values = np.clip(values, 0, 0xFFFF)
        gray = (values.astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(gray)).convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")
