"""1:N identification: the seeded gallery/probe split of an identity folder, and the rates of the searches.

Pure functions, no API calls (those are in `runner`). The definitions follow `benchmarks/collections.py`:
over every probe, rank-k is "the right person among the top k matches" (threshold 0); at a Similarity
threshold t, the true identification rate (TIR) is "the top match is the right person and reaches t", the
false-positive identification rate (FPIR) is "some wrong person reaches t". A probe where no face was found is
a miss and no false positive. The gallery holds one face per person, so the best wrong match is always among
the top two and five matches decide FPIR exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TOP_K = 5


@dataclass(frozen=True)
class LabelledImage:
    """An image and the identity (folder name) it shows."""

    identity: str
    path: Path


@dataclass(frozen=True)
class Split:
    """The gallery (one image per identity) and the probes (every other image), both sorted."""

    gallery: tuple[LabelledImage, ...]
    probes: tuple[LabelledImage, ...]
    distractors: tuple[str, ...]
    """Identities with a single image: in the gallery, never probed."""


@dataclass(frozen=True)
class ProbeOutcome:
    """One SearchFacesByImage: the top matches as (identity, Similarity), best first, or why there are none."""

    probe: LabelledImage
    matches: tuple[tuple[str, float], ...] = ()
    failure: dict[str, str] | None = field(default=None)


def identity_images(root: Path) -> dict[str, list[Path]]:
    """Every sub-folder of `root` holding JPEG/PNG images, with its images, sorted by name."""
    found: dict[str, list[Path]] = {}
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            continue
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            found[folder.name] = images
    return found


def split_gallery(identities: dict[str, list[Path]], seed: int) -> Split:
    """Per identity, its images sorted by name then shuffled by a generator seeded with (seed, identity): the
    first goes to the gallery, the rest are probes. Depends only on the names and the seed."""
    gallery: list[LabelledImage] = []
    probes: list[LabelledImage] = []
    distractors: list[str] = []
    for identity in sorted(identities):
        images = sorted(identities[identity])
        random.Random(f"{seed}/{identity}").shuffle(images)
        gallery.append(LabelledImage(identity, images[0]))
        probes.extend(LabelledImage(identity, path) for path in sorted(images[1:]))
        if len(images) == 1:
            distractors.append(identity)
    return Split(gallery=tuple(gallery), probes=tuple(probes), distractors=tuple(distractors))


def identified_at_rank(outcome: ProbeOutcome, rank: int) -> bool:
    """The right person is among the top `rank` matches."""
    return any(identity == outcome.probe.identity for identity, _ in outcome.matches[:rank])


def true_identification(outcome: ProbeOutcome, threshold: float) -> bool:
    """The top match is the right person with Similarity >= threshold."""
    if not outcome.matches:
        return False
    identity, similarity = outcome.matches[0]
    return identity == outcome.probe.identity and similarity >= threshold


def false_positive(outcome: ProbeOutcome, threshold: float) -> bool:
    """Some wrong person has Similarity >= threshold."""
    return any(identity != outcome.probe.identity and similarity >= threshold
               for identity, similarity in outcome.matches)


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def rates(outcomes: Sequence[ProbeOutcome], thresholds: Iterable[float]) -> dict[str, Any]:
    """rank-1, rank-5, and TIR/FPIR at each threshold over `outcomes`, as counts and fractions."""
    n = len(outcomes)
    rank1 = sum(identified_at_rank(o, 1) for o in outcomes)
    rank5 = sum(identified_at_rank(o, TOP_K) for o in outcomes)
    at_thresholds = []
    for threshold in thresholds:
        tir = sum(true_identification(o, threshold) for o in outcomes)
        fpir = sum(false_positive(o, threshold) for o in outcomes)
        at_thresholds.append({"threshold": threshold, "true_identifications": tir, "tir": _rate(tir, n),
                              "false_positives": fpir, "fpir": _rate(fpir, n)})
    return {
        "probes": n,
        "rank1_hits": rank1,
        "rank1": _rate(rank1, n),
        f"rank{TOP_K}_hits": rank5,
        f"rank{TOP_K}": _rate(rank5, n),
        "at_thresholds": at_thresholds,
    }


def identification_metrics(outcomes: Sequence[ProbeOutcome], enrolled: set[str],
                           thresholds: Iterable[float]) -> dict[str, Any]:
    """The rates over all probes, and over the probes whose person got a face into the gallery (`enrolled`)."""
    levels = list(thresholds)
    return {
        "all_probes": rates(outcomes, levels),
        "enrolled_probes": rates([o for o in outcomes if o.probe.identity in enrolled], levels),
    }
