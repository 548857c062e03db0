"""Shrink an image over Rekognition's 5 MB `Image.Bytes` limit into a JPEG that fits.

Camera originals and uncompressed PNGs are often larger than the 5,242,880 bytes that IndexFaces,
SearchFacesByImage and CompareFaces accept inline; the service answers `ImageTooLargeException`.
Re-encoding as JPEG at decreasing quality, then at decreasing size, keeps the face usable: face
models work on a crop of ~150-250 px, far below what a 5 MB JPEG holds.

The result is deterministic for a given input and Pillow version, so re-sending a re-encoded image
(e.g. when a bulk run resumes) sends the same bytes, which Rekognition de-duplicates.
"""

from __future__ import annotations

import io
import math
from typing import Any

MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Rekognition's limit for `Image.Bytes` (raw bytes, before base64)."""

QUALITIES = (90, 80, 70, 60)
MIN_SIDE = 80
"""Rekognition finds no face in images below 80 px; shrinking further would be pointless."""


class ReencodeError(ValueError):
    """The image could not be decoded, or could not be made to fit the limit."""


def shrink_to_limit(data: bytes, limit: int = MAX_IMAGE_BYTES) -> bytes:
    """`data` unchanged when within `limit`, else a JPEG re-encoding of it that is.

    JPEG EXIF orientation is applied to the pixels first (the EXIF block is not kept, and Rekognition
    would otherwise read it to rotate); PNG orientation is left alone, as Rekognition ignores it. Alpha
    is composited onto white. Quality goes 90 → 60 at full size, then the image is scaled down (by the
    square root of the size ratio, with a margin) until it fits.
    """
    if len(data) <= limit:
        return data
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened) if opened.format == "JPEG" else opened.copy()
    except Exception as exc:  # Pillow raises many types for corrupt input (OSError, SyntaxError, ...)
        raise ReencodeError(f"cannot decode image to re-encode it: {exc}") from exc
    rgb = _to_rgb(image)

    scale = 1.0
    while True:
        width, height = max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))
        if min(width, height) < MIN_SIDE:
            raise ReencodeError(f"cannot fit the image in {limit} bytes without shrinking it below {MIN_SIDE} px")
        frame = rgb if scale == 1.0 else rgb.resize((width, height), Image.Resampling.LANCZOS)
        size = 0
        for quality in QUALITIES:
            encoded = _jpeg(frame, quality)
            size = len(encoded)
            if size <= limit:
                return encoded
        # Bytes scale roughly with pixels: shrink each side by sqrt(limit/size), less 10 % for margin.
        scale *= min(0.9, 0.9 * math.sqrt(limit / size))


def _jpeg(image: Any, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _to_rgb(image: Any) -> Any:
    """8-bit RGB: alpha over white, 16-bit samples scaled down (as the server reads them)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
