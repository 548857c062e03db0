"""Reading LFW-format data: image paths, official pairs files, and the labelled face of a photo.

Where the data lives: harness/facedata.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def image_path(root: Path, name: str, number: int) -> Path:
    return root / name / f"{name}_{number:04d}.jpg"


def read_pairs(pairs_file: Path) -> Iterator[tuple[Path, Path, bool]]:
    """(image A, image B, same person) for every pair of an LFW pairs file (1 or 10 folds)."""
    root = pairs_file.parent
    for line in pairs_file.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            yield image_path(root, parts[0], int(parts[1])), image_path(root, parts[0], int(parts[2])), True
        elif len(parts) == 4:
            yield image_path(root, parts[0], int(parts[1])), image_path(root, parts[2], int(parts[3])), False


def identity_images(root: Path) -> dict[str, list[Path]]:
    """Every identity folder under `root` and its images, sorted."""
    return {
        d.name: sorted(d.glob("*.jpg"))
        for d in sorted(root.iterdir())
        if d.is_dir() and any(d.glob("*.jpg"))
    }
