"""Pillow work for the HTML report: upright image sizes, face crops, base64 data URIs.

Rekognition's boxes refer to the upright image (JPEG EXIF orientation applied), so images
are transposed the same way before measuring or cropping. Crops are small JPEGs so that a
self-contained report with many thumbnails stays a reasonable size.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

THUMBNAIL_PX = 112
FACE_PADDING = 0.2  # of the box size, on each side: some context around the face


@lru_cache(maxsize=64)
def load_upright(path: Path) -> Image.Image:
    """The image as RGB with its JPEG EXIF orientation applied (Rekognition, like rekog-compat,
    applies no orientation to PNG). Cached: a gallery face recurs across disagreements."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image) if image.format == "JPEG" else image
        return upright.convert("RGB")


def upright_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels of the upright image, the frame Rekognition's ratios refer to."""
    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1) if image.format == "JPEG" else 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def crop_face(image: Image.Image, box: Mapping[str, Any] | None, size: int = THUMBNAIL_PX,
              padding: float = FACE_PADDING) -> Image.Image:
    """The face in a ratio BoundingBox (padded, clamped to the image) scaled to fit `size` px;
    the whole image when there is no box."""
    width, height = image.size
    region = image
    if box:
        left, top = float(box.get("Left", 0.0)) * width, float(box.get("Top", 0.0)) * height
        w, h = float(box.get("Width", 0.0)) * width, float(box.get("Height", 0.0)) * height
        x0, y0 = max(0, round(left - padding * w)), max(0, round(top - padding * h))
        x1, y1 = min(width, round(left + w + padding * w)), min(height, round(top + h + padding * h))
        if x1 > x0 and y1 > y0:
            region = image.crop((x0, y0, x1, y1))
    thumbnail = region.copy()
    thumbnail.thumbnail((size, size))
    return thumbnail


def data_uri(image: Image.Image, fmt: str = "JPEG", quality: int = 82) -> str:
    """An image as a `data:` URI (JPEG for photos, PNG for charts), for a self-contained page."""
    buffer = io.BytesIO()
    if fmt.upper() == "JPEG":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        mime = "image/jpeg"
    else:
        image.save(buffer, format=fmt.upper())
        mime = f"image/{fmt.lower()}"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def face_thumbnail(path: Path, box: Mapping[str, Any] | None) -> str | None:
    """The face of `path` in `box` as a JPEG data URI; None when the file cannot be read."""
    try:
        return data_uri(crop_face(load_upright(Path(path)), box))
    except (OSError, ValueError):
        return None


def disagreement_thumbnails(report: Mapping[str, Any], gallery_root: Path, probes_root: Path,
                            limit: int) -> dict[str, dict[str, str | None]]:
    """Face crops for the first `limit` probes whose top-1 differs between the sides.

    Keyed by probe file: the probe's face as each side found it (SearchedFaceBoundingBox) and
    each side's top-1 gallery face (its BoundingBox on the gallery image).
    """
    thumbnails: dict[str, dict[str, str | None]] = {}
    for record in report["probes"]:
        if len(thumbnails) >= limit:
            break
        if record["metrics"]["top1_agree"] is not False:
            continue
        views: dict[str, str | None] = {}
        for key in ("a", "b"):
            side = record[key]
            views[f"probe_{key}"] = face_thumbnail(probes_root / record["file"], side["searched_face_bounding_box"])
            top = side["matches"][0] if side["matches"] else None
            views[f"top1_{key}"] = (face_thumbnail(gallery_root / top["gallery_file"], top["bounding_box"])
                                    if top and top["gallery_file"] else None)
        thumbnails[record["file"]] = views
    load_upright.cache_clear()
    return thumbnails
