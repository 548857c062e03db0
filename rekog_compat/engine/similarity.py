"""Calibrated Similarity: the one mapping from embedding distance to Rekognition's 0-100 score.

A Similarity threshold means a known false-match rate per pair of different people:
80 -> 1e-3, 90 -> 1e-4, 95 -> 1e-5, 99 -> 1e-6. The mapping for a model is a
piecewise-linear curve through measured knots (cosine distance, Similarity), fitted by
`benchmarks/calibrate.py` on impostor pairs from LFW and stored in
`calibration/<model>.json` beside this file. CompareFaces, SearchFaces* and SearchUsers*
all score through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# FMR per pair that each Similarity threshold stands for.
TARGET_FMR = {80.0: 1e-3, 90.0: 1e-4, 95.0: 1e-5, 99.0: 1e-6}


@dataclass(frozen=True)
class SimilarityScale:
    """Maps cosine distance (0 identical .. 2 opposite) to Similarity (100 .. 0)."""

    model: str
    distances: tuple[float, ...]  # ascending
    similarities: tuple[float, ...]  # descending
    calibrated: bool

    def __call__(self, distances: np.ndarray) -> np.ndarray:
        """Similarity for each distance (numpy's interp wants ascending x: negate the axis)."""
        scores = np.interp(np.asarray(distances, dtype=np.float64), self.distances, self.similarities)
        return np.clip(scores, 0.0, 100.0)

    def distance_at(self, similarity: float) -> float:
        """The largest distance that still reaches `similarity` (for thresholds in the store)."""
        return float(np.interp(-similarity, [-s for s in self.similarities], self.distances))

    def passing(self, hits: list[tuple[T, float]], threshold: float) -> list[tuple[T, float]]:
        """(item, Similarity) for (item, distance) hits that reach `threshold`, order kept."""
        if not hits:
            return []
        similarities = self(np.array([distance for _, distance in hits]))
        return [(item, float(s)) for (item, _), s in zip(hits, similarities, strict=True) if s >= threshold]


def load_scale(model: str, fallback_threshold: float | None = None) -> SimilarityScale:
    """The calibrated scale of `model`, or a documented uncalibrated one.

    Without a calibration file, Similarity 80 sits at the model's own verification
    threshold (DeepFace's published cosine threshold), falling linearly to 0 at twice it.
    """
    source = resources.files(__package__).joinpath("calibration", f"{model}.json")
    if source.is_file():
        data = json.loads(source.read_text())
        knots = sorted((float(d), float(s)) for d, s in data["knots"])
        return SimilarityScale(
            model=model,
            distances=tuple(d for d, _ in knots),
            similarities=tuple(s for _, s in knots),
            calibrated=True,
        )
    threshold = fallback_threshold if fallback_threshold is not None else 0.4
    return SimilarityScale(
        model=model,
        distances=(0.0, threshold, 2 * threshold),
        similarities=(100.0, 80.0, 0.0),
        calibrated=False,
    )


def cosine_distances(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of one unit vector against each row of a unit-vector matrix."""
    return 1.0 - np.asarray(gallery, dtype=np.float32) @ np.asarray(probe, dtype=np.float32)
