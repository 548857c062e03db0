"""Pure metric functions of the comparison: no I/O, no API, numpy only.

Each one is defined for the awkward cases too (empty inputs, ties, no overlap), and says so,
because a report over real data always meets them; "undefined" is None, never NaN, so that
report.json stays valid JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

# (left, top, width, height), in any unit as long as both boxes use the same one.
Box = tuple[float, float, float, float]
Point = tuple[float, float]

DEFAULT_LANDMARKS = ("eyeLeft", "eyeRight", "mouthLeft", "mouthRight", "nose")


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    """|A ∩ B| / |A ∪ B| of two sets of ids; two empty sets are identical (1.0)."""
    set_a, set_b = set(a), set(b)
    union = set_a | set_b
    if not union:
        return 1.0
    return len(set_a & set_b) / len(union)


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks of `values`, ties given the mean of the ranks they span (as Spearman needs)."""
    data = np.asarray(values, dtype=np.float64)
    order = np.argsort(data, kind="mergesort")
    ranks = np.empty(len(data), dtype=np.float64)
    sorted_values = data[order]
    start = 0
    while start < len(data):
        end = start
        while end + 1 < len(data) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson of average ranks), in [-1, 1].

    None when undefined: fewer than 2 pairs, or one side's values all equal (no ranking to
    correlate).
    """
    if len(x) != len(y):
        raise ValueError(f"spearman needs pairs: {len(x)} values against {len(y)}")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    if denominator == 0.0:
        return None
    return max(-1.0, min(1.0, float(np.dot(dx, dy)) / denominator))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (left, top, width, height); 0 when either is empty.

    Invariant under scaling each axis, so Rekognition's ratio boxes give the pixel IoU.
    """
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = max(0.0, a[2]) * max(0.0, a[3]) + max(0.0, b[2]) * max(0.0, b[3]) - inter
    return inter / union if union > 0 else 0.0


def greedy_match(boxes_a: Sequence[Box], boxes_b: Sequence[Box], min_iou: float = 0.0) -> list[tuple[int, int, float]]:
    """Pair faces of two detections, best IoU first, each face used once.

    Returns (index in a, index in b, IoU) for pairs with IoU > `min_iou`, highest IoU first;
    ties go to the lower indices (largest faces come first in Rekognition's answers).
    """
    candidates = [(iou(box_a, box_b), i, j) for i, box_a in enumerate(boxes_a) for j, box_b in enumerate(boxes_b)]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for value, i, j in candidates:
        if value <= min_iou:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((i, j, value))
    return pairs


def landmark_distances(a: Mapping[str, Point], b: Mapping[str, Point],
                       types: Sequence[str] = DEFAULT_LANDMARKS) -> dict[str, float]:
    """Euclidean distance per landmark type present in both (same units as the points)."""
    return {t: math.dist(a[t], b[t]) for t in types if t in a and t in b}


def box_diagonal(box: Box) -> float:
    """Length of a box's diagonal, to express landmark error relative to face size."""
    return math.hypot(box[2], box[3])


def ratio_box_to_pixels(box: Mapping[str, float], width: int, height: int) -> Box:
    """Rekognition's BoundingBox (ratios of the image) as a pixel box."""
    return (float(box.get("Left", 0.0)) * width, float(box.get("Top", 0.0)) * height,
            float(box.get("Width", 0.0)) * width, float(box.get("Height", 0.0)) * height)


def landmarks_to_pixels(landmarks: Iterable[Mapping[str, object]], width: int, height: int) -> dict[str, Point]:
    """Rekognition's Landmarks list ({Type, X, Y} ratios) as {type: (x px, y px)}."""
    points: dict[str, Point] = {}
    for mark in landmarks:
        x, y = mark.get("X"), mark.get("Y")
        if isinstance(mark.get("Type"), str) and isinstance(x, (int, float)) and isinstance(y, (int, float)):
            points[str(mark["Type"])] = (float(x) * width, float(y) * height)
    return points


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when there are none."""
    defined = [float(v) for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def rate(flags: Iterable[bool | None]) -> float | None:
    """Share of True among the defined flags (bool mean); None when none is defined."""
    return mean_or_none(None if f is None else float(f) for f in flags)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p95, min, max of call durations, in milliseconds (linear percentiles)."""
    if not seconds:
        return {"count": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "min_ms": None, "max_ms": None}
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "count": len(ms),
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
    }


def first_rank(identities: Sequence[str | None], identity: str) -> int | None:
    """1-based rank of the first match of `identity` in a ranked list; None when absent."""
    for rank, candidate in enumerate(identities, start=1):
        if candidate == identity:
            return rank
    return None
