"""Reading LFW-format pairs files: two images, same person or not, and the fold each pair belongs to.

The format of LFW's `pairs.txt`: a header line `FOLDS PAIRS_PER_CLASS` (or only `PAIRS_PER_CLASS`, one fold),
then per fold `PAIRS_PER_CLASS` same-person lines `name n1 n2` followed by `PAIRS_PER_CLASS` different-person
lines `name1 n1 name2 n2`. Image `n` of `name` is `<root>/<name>/<name>_<nnnn>.jpg`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PairsFormatError(ValueError):
    """The pairs file does not follow the LFW format (the message names the line)."""


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file: two images, whether they show the same person, and its fold (0-based)."""

    index: int
    first: Path
    second: Path
    genuine: bool
    fold: int
    line: int


@dataclass(frozen=True)
class PairsFile:
    """A parsed pairs file: its header and its pairs, in file order."""

    path: Path
    folds: int
    pairs_per_class: int
    pairs: tuple[Pair, ...]

    def missing_images(self) -> list[Path]:
        """Every image a pair names that is not a file, each once, in file order."""
        seen: dict[Path, None] = {}
        for pair in self.pairs:
            for image in (pair.first, pair.second):
                if image not in seen and not image.is_file():
                    seen[image] = None
        return list(seen)


def image_path(root: Path, name: str, number: int) -> Path:
    """`<root>/<name>/<name>_<nnnn>.jpg`, LFW's naming."""
    return root / name / f"{name}_{number:04d}.jpg"


def _number(token: str, path: Path, line: int) -> int:
    try:
        value = int(token)
    except ValueError:
        raise PairsFormatError(f"{path}:{line}: {token!r} is not an image number") from None
    if value < 0:
        raise PairsFormatError(f"{path}:{line}: image number {value} is negative")
    return value


def parse_header(text: str, path: Path) -> tuple[int, int]:
    """(folds, pairs per class) from the first line: `FOLDS N` or `N` (one fold)."""
    tokens = text.split()
    try:
        numbers = [int(token) for token in tokens]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers = [1, numbers[0]]
    if len(numbers) != 2 or numbers[0] < 1 or numbers[1] < 1:
        raise PairsFormatError(f"{path}:1: the header must be 'FOLDS PAIRS_PER_CLASS' or 'PAIRS_PER_CLASS', "
                               f"not {text.strip()!r}")
    return numbers[0], numbers[1]


def read_pairs(path: Path, images_root: Path) -> PairsFile:
    """Parse an LFW pairs file whose images live under `images_root`.

    With more than one fold the file must hold exactly FOLDS x 2 x PAIRS_PER_CLASS pairs (pair i is in fold
    i // (2 x PAIRS_PER_CLASS)); with one fold any number of pairs is read. Blank lines are skipped.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise PairsFormatError(f"{path}: empty pairs file")
    folds, per_class = parse_header(lines[0], path)
    pairs: list[Pair] = []
    for number, text in enumerate(lines[1:], start=2):
        parts = text.split()
        if not parts:
            continue
        if len(parts) == 3:
            first = image_path(images_root, parts[0], _number(parts[1], path, number))
            second = image_path(images_root, parts[0], _number(parts[2], path, number))
            genuine = True
        elif len(parts) == 4:
            first = image_path(images_root, parts[0], _number(parts[1], path, number))
            second = image_path(images_root, parts[2], _number(parts[3], path, number))
            genuine = False
        else:
            raise PairsFormatError(f"{path}:{number}: expected 'name n1 n2' or 'name1 n1 name2 n2', not {text!r}")
        index = len(pairs)
        fold = index // (2 * per_class) if folds > 1 else 0
        pairs.append(Pair(index=index, first=first, second=second, genuine=genuine, fold=fold, line=number))
    if not pairs:
        raise PairsFormatError(f"{path}: no pairs after the header")
    if folds > 1 and len(pairs) != folds * 2 * per_class:
        raise PairsFormatError(f"{path}: the header announces {folds} folds of 2 x {per_class} pairs "
                               f"({folds * 2 * per_class}), the file holds {len(pairs)}")
    return PairsFile(path=path, folds=folds, pairs_per_class=per_class, pairs=tuple(pairs))
