"""The comparison's inputs: which image files, under which ExternalImageId, of which person.

Kept apart from the API calls so the same selection rules (recursive JPEG/PNG discovery,
sanitized and unique ExternalImageIds, identity from the parent folder, a deterministic
sample) are applied identically to both sides and can be tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..external_ids import sanitize_external_id

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# Rekognition's ExternalImageId: [a-zA-Z0-9_.\-:]+, at most 255 characters.
MAX_EXTERNAL_ID = 255


@dataclass(frozen=True)
class ImageItem:
    """One image file: where it is, its path relative to the folder searched, and its person.

    `identity` is the parent folder's name when the file lies in a subfolder of the root (the
    usual `<root>/<person>/<photo>.jpg` layout), else None.
    """

    path: Path
    relative: str
    identity: str | None


def find_images(root: Path) -> list[ImageItem]:
    """Every JPEG/PNG under `root` (recursively, by suffix, hidden files skipped), sorted by path.

    Sorted so that runs are reproducible and both sides see the same order.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {root}")
    items = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            identity = rel.parts[-2] if len(rel.parts) >= 2 else None
            items.append(ImageItem(path=path, relative=rel.as_posix(), identity=identity))
    return sorted(items, key=lambda item: item.relative)


def assign_external_ids(items: Iterable[ImageItem]) -> dict[str, ImageItem]:
    """ExternalImageId -> gallery image, unique: a stem seen before gets `-2`, `-3`, ...

    The mapping is what turns a search match back into a file and a person, so two files with
    the same stem in different folders must not share an id.
    """
    mapping: dict[str, ImageItem] = {}
    for item in items:
        base = sanitize_external_id(Path(item.relative).stem)
        candidate, n = base, 1
        while candidate in mapping:
            n += 1
            suffix = f"-{n}"
            candidate = base[: MAX_EXTERNAL_ID - len(suffix)] + suffix
        mapping[candidate] = item
    return mapping


def identities_known(gallery: Sequence[ImageItem], probes: Sequence[ImageItem]) -> bool:
    """Whether both folders use the identity-folder layout (every image inside a person folder)."""
    everything = [*gallery, *probes]
    return bool(everything) and all(item.identity is not None for item in everything)


def sample_indices(count: int, size: int) -> list[int]:
    """`size` indices spread evenly over range(count), deterministic (no RNG, same every run)."""
    if count <= 0 or size <= 0:
        return []
    if size >= count:
        return list(range(count))
    return sorted({(i * count) // size for i in range(size)})
