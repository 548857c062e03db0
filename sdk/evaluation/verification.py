"""Verification metrics on pair scores: pure functions of numpy arrays, no I/O.

A pair is accepted (declared "same person") when its score is >= the threshold, the rule Rekognition applies
to SimilarityThreshold. `genuine` marks same-person pairs; the others are impostor pairs. Every count is an
integer, so the choices below (best threshold, TAR at a FAR) are exact, with no float ties to break.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Scores = Sequence[float] | np.ndarray
Labels = Sequence[bool] | np.ndarray
Folds = Sequence[int] | np.ndarray
Z_95 = 1.959963984540054
"""The two-sided 95 % normal quantile, for the Wilson score intervals."""


def _arrays(scores: Scores, genuine: Labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    g = np.asarray(genuine, dtype=bool)
    if s.shape != g.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-d and of one length, not {s.shape} and {g.shape}")
    return s, g


def _accepted_counts(sorted_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, how many of `sorted_scores` (ascending) are >= it."""
    return len(sorted_scores) - np.searchsorted(sorted_scores, thresholds, side="left")


def candidate_thresholds(scores: np.ndarray) -> np.ndarray:
    """Thresholds that give every distinct decision: below the lowest score (accept all), the midpoints between
    consecutive distinct scores, and above the highest (accept none); ascending."""
    distinct = np.unique(scores)
    if len(distinct) == 0:
        return np.array([0.0])
    middles = (distinct[:-1] + distinct[1:]) / 2.0
    return np.concatenate(([distinct[0] - 1.0], middles, [distinct[-1] + 1.0]))


def accuracy_at(scores: Scores, genuine: Labels, threshold: float) -> float:
    """The fraction of pairs decided right at `threshold` (genuine accepted, impostor rejected)."""
    s, g = _arrays(scores, genuine)
    if len(s) == 0:
        raise ValueError("no pairs")
    right = int(np.sum(g & (s >= threshold))) + int(np.sum(~g & (s < threshold)))
    return right / len(s)


def best_threshold(scores: Scores, genuine: Labels) -> tuple[float, float]:
    """(threshold, accuracy): the candidate threshold (see `candidate_thresholds`) with the highest accuracy on
    these pairs; the lowest such threshold on a tie."""
    s, g = _arrays(scores, genuine)
    if len(s) == 0:
        raise ValueError("no pairs")
    thresholds = candidate_thresholds(s)
    true_accepts = _accepted_counts(np.sort(s[g]), thresholds)
    false_accepts = _accepted_counts(np.sort(s[~g]), thresholds)
    right = true_accepts + (int(np.sum(~g)) - false_accepts)
    best = int(np.argmax(right))  # the first maximum: the lowest threshold
    return float(thresholds[best]), int(right[best]) / len(s)


def kfold_accuracy(scores: Scores, genuine: Labels,
                   folds: Folds) -> dict[str, Any]:
    """LFW's protocol: for each fold, the best threshold on the other folds, accuracy on this one.

    Returns the per-fold thresholds and accuracies, their mean, the standard deviation (numpy's default, ddof=0,
    as LFW's usual scripts print it) and the standard error of the mean (LFW's README: sample std / sqrt(k)).
    """
    s, g = _arrays(scores, genuine)
    f = np.asarray(folds, dtype=int)
    if f.shape != s.shape:
        raise ValueError("one fold per pair")
    names = sorted({int(v) for v in f})
    if len(names) < 2:
        raise ValueError("k-fold accuracy needs at least 2 folds")
    per_fold = []
    for fold in names:
        test = f == fold
        threshold, train_accuracy = best_threshold(s[~test], g[~test])
        per_fold.append({
            "fold": fold + 1,
            "pairs": int(np.sum(test)),
            "threshold": threshold,
            "train_accuracy": train_accuracy,
            "accuracy": accuracy_at(s[test], g[test], threshold),
        })
    accuracies = np.array([row["accuracy"] for row in per_fold])
    return {
        "protocol": f"{len(names)}-fold: threshold chosen on the other {len(names) - 1} folds, tested on the one left",
        "folds": len(names),
        "mean": float(np.mean(accuracies)),
        "std": float(np.std(accuracies)),
        "standard_error": float(np.std(accuracies, ddof=1) / math.sqrt(len(names))),
        "per_fold": per_fold,
    }


def roc_curve(scores: Scores, genuine: Labels) -> dict[str, Any]:
    """TAR and FAR at every distinct score used as the threshold (highest first), with the area under the curve
    (trapezoids through (0, 0) and (1, 1)) and the equal error rate (where FAR is nearest 1 - TAR)."""
    s, g = _arrays(scores, genuine)
    genuine_scores, impostor_scores = np.sort(s[g]), np.sort(s[~g])
    if len(genuine_scores) == 0 or len(impostor_scores) == 0:
        raise ValueError("a ROC curve needs genuine and impostor pairs")
    thresholds = np.unique(s)[::-1]
    tar = _accepted_counts(genuine_scores, thresholds) / len(genuine_scores)
    far = _accepted_counts(impostor_scores, thresholds) / len(impostor_scores)
    x = np.concatenate(([0.0], far, [1.0]))
    y = np.concatenate(([0.0], tar, [1.0]))
    auc = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    nearest = int(np.argmin(np.abs(far - (1.0 - tar))))
    return {
        "auc": auc,
        "eer": float((far[nearest] + 1.0 - tar[nearest]) / 2.0),
        "eer_threshold": float(thresholds[nearest]),
        "points": [
            {"threshold": float(t), "far": float(a), "tar": float(b)}
            for t, a, b in zip(thresholds, far, tar, strict=True)
        ],
    }


def resolvable(far: float, impostors: int) -> bool:
    """Whether `impostors` pairs can measure a FAR this small: at least one impostor pair must fit under it."""
    return impostors > 0 and far * impostors >= 1.0 - 1e-9


def tar_at_far(scores: Scores, genuine: Labels,
               far: float) -> dict[str, Any]:
    """The TAR at the lowest threshold whose FAR is <= `far`, or `tar: None` with the reason when there are
    too few impostor pairs to resolve `far` (fewer than 1 / far)."""
    s, g = _arrays(scores, genuine)
    impostor_scores, genuine_scores = np.sort(s[~g]), np.sort(s[g])
    n = len(impostor_scores)
    result: dict[str, Any] = {"far": far, "impostors": n}
    if not resolvable(far, n) or len(genuine_scores) == 0:
        need = math.ceil(1.0 / far - 1e-9)
        smallest = f"1/{n} = {1.0 / n:.2g}" if n else "undefined"
        reason = (f"{n} impostor pairs cannot resolve FAR {far:g}: the smallest non-zero FAR they measure is "
                  f"{smallest}; it needs at least {need} impostor pairs") if len(genuine_scores) else "no genuine pairs"
        return {**result, "tar": None, "threshold": None, "far_measured": None, "impostors_accepted": None,
                "reason": reason}
    allowed = math.floor(far * n + 1e-9)
    thresholds = candidate_thresholds(s)
    false_accepts = _accepted_counts(impostor_scores, thresholds)
    first_ok = int(np.argmax(false_accepts <= allowed))  # the top candidate accepts nothing, so one exists
    threshold = float(thresholds[first_ok])
    accepted = int(false_accepts[first_ok])
    true_accepts = int(_accepted_counts(genuine_scores, np.array([threshold]))[0])
    return {**result, "tar": true_accepts / len(genuine_scores), "threshold": threshold,
            "far_measured": accepted / n, "impostors_accepted": accepted, "reason": None}


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion (95 % by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def error_rates_at(scores: Scores, genuine: Labels,
                   threshold: float) -> dict[str, Any]:
    """FMR (impostor pairs with score >= threshold) and FNMR (genuine pairs below it), with counts and 95 %
    Wilson intervals; a rate is None when there are no pairs of its kind."""
    s, g = _arrays(scores, genuine)
    impostors, genuines = int(np.sum(~g)), int(np.sum(g))
    false_matches = int(np.sum(~g & (s >= threshold)))
    false_non_matches = int(np.sum(g & (s < threshold)))
    return {
        "threshold": threshold,
        "impostors": impostors,
        "false_matches": false_matches,
        "fmr": false_matches / impostors if impostors else None,
        "fmr_interval_95": wilson_interval(false_matches, impostors),
        "smallest_resolvable_fmr": 1.0 / impostors if impostors else None,
        "genuines": genuines,
        "false_non_matches": false_non_matches,
        "fnmr": false_non_matches / genuines if genuines else None,
        "fnmr_interval_95": wilson_interval(false_non_matches, genuines),
    }
