"""Turns the workload's raw records into the report's metrics and summary (no I/O, no API).

Per probe: top-1 agreement, Jaccard of the top-k ExternalImageId sets, Spearman of the
shared matches' Similarity, and, when identities are known, each side's rank of the true
person. Per DetectFaces sample: faces paired greedily by IoU, landmark distance. Then the
run's summary, latency per side per operation and cost.

A probe that one side could not search (no face, error) is never left out: it counts as a
miss for that side's accuracy and is reported as searched on one side only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import metrics as m
from .cost import side_cost
from .workload import CallRecord, Side

SIDES = ("a", "b")
# Rekognition's default match threshold (CompareFaces SimilarityThreshold, SearchFaces FaceMatchThreshold).
DEFAULT_MATCH_THRESHOLD = 80.0


def probe_metrics(record: Mapping[str, Any], gallery_identities: set[str] | None) -> dict[str, Any]:
    """Agreement metrics of one probe's two searches; identity metrics when identities are known.

    `gallery_identities` is the set of people in the gallery (None: identities unknown); a probe
    whose person is not in it ("non-mated") has no defined accuracy.
    """
    matches = {key: record[key].get("matches") or [] for key in SIDES}
    ids = {key: [match["external_image_id"] for match in matches[key]] for key in SIDES}
    sims = {key: {match["external_image_id"]: match["similarity"] for match in matches[key]} for key in SIDES}
    both = bool(ids["a"]) and bool(ids["b"])
    shared = [i for i in ids["a"] if i in set(ids["b"]) and sims["a"][i] is not None and sims["b"][i] is not None]
    result: dict[str, Any] = {
        "searched_both": both,
        "top1_a": ids["a"][0] if ids["a"] else None,
        "top1_b": ids["b"][0] if ids["b"] else None,
        "top1_similarity_a": matches["a"][0]["similarity"] if matches["a"] else None,
        "top1_similarity_b": matches["b"][0]["similarity"] if matches["b"] else None,
        "top1_agree": (ids["a"][0] == ids["b"][0]) if both else None,
        "jaccard": m.jaccard(ids["a"], ids["b"]) if both else None,
        "shared_matches": len(shared),
        "spearman": m.spearman([sims["a"][i] for i in shared], [sims["b"][i] for i in shared]) if both else None,
    }
    identity = record.get("identity")
    person = identity if isinstance(identity, str) and gallery_identities and identity in gallery_identities else None
    mated = person is not None
    result["mated"] = mated if gallery_identities is not None else None
    for key in SIDES:
        rank = m.first_rank([match["identity"] for match in matches[key]], person) if person is not None else None
        result[f"rank_{key}"] = rank
        result[f"correct_{key}"] = (rank == 1) if mated else None
        result[f"in_top_k_{key}"] = (rank is not None) if mated else None
    return result


def detection_metrics(record: Mapping[str, Any]) -> dict[str, Any]:
    """Faces of the two DetectFaces answers paired greedily by IoU; per pair the IoU and the
    landmark distance of the 5 default landmarks, in pixels and as a fraction of the mean of
    the two boxes' diagonals (so that it reads the same for small and large faces)."""
    width, height = record["image_size"]
    faces = {key: record[key].get("faces") or [] for key in SIDES}
    boxes = {key: [m.ratio_box_to_pixels(f.get("BoundingBox") or {}, width, height) for f in faces[key]]
             for key in SIDES}
    comparable = all(record[key]["status"] != "error" for key in SIDES)
    pairs: list[dict[str, Any]] = []
    for i, j, value in m.greedy_match(boxes["a"], boxes["b"]) if comparable else []:
        points_a = m.landmarks_to_pixels(faces["a"][i].get("Landmarks") or [], width, height)
        points_b = m.landmarks_to_pixels(faces["b"][j].get("Landmarks") or [], width, height)
        per_type = m.landmark_distances(points_a, points_b)
        mean_px = m.mean_or_none(per_type.values())
        diagonal = (m.box_diagonal(boxes["a"][i]) + m.box_diagonal(boxes["b"][j])) / 2.0
        pairs.append({
            "a_index": i, "b_index": j, "iou": value, "landmark_px": per_type, "mean_landmark_px": mean_px,
            "mean_landmark_fraction": (mean_px / diagonal) if mean_px is not None and diagonal > 0 else None,
        })
    return {
        "comparable": comparable,
        "faces_a": len(faces["a"]),
        "faces_b": len(faces["b"]),
        "pairs": pairs,
        "unmatched_a": len(faces["a"]) - len(pairs) if comparable else None,
        "unmatched_b": len(faces["b"]) - len(pairs) if comparable else None,
        "mean_iou": m.mean_or_none(p["iou"] for p in pairs),
        "mean_landmark_px": m.mean_or_none(p["mean_landmark_px"] for p in pairs),
        "mean_landmark_fraction": m.mean_or_none(p["mean_landmark_fraction"] for p in pairs),
    }


def detection_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Over the DetectFaces sample: faces found per side, pairs, mean IoU and landmark error."""
    pairs = [p for r in records for p in r["metrics"]["pairs"]]
    per_type: dict[str, list[float]] = {}
    for pair in pairs:
        for name, value in pair["landmark_px"].items():
            per_type.setdefault(name, []).append(value)
    ious = [p["iou"] for p in pairs]
    return {
        "images": len(records),
        "faces_a": sum(r["metrics"]["faces_a"] for r in records),
        "faces_b": sum(r["metrics"]["faces_b"] for r in records),
        "pairs": len(pairs),
        "unmatched_a": sum(r["metrics"]["unmatched_a"] or 0 for r in records),
        "unmatched_b": sum(r["metrics"]["unmatched_b"] or 0 for r in records),
        "mean_iou": m.mean_or_none(ious),
        "min_iou": min(ious) if ious else None,
        "mean_landmark_px": m.mean_or_none(p["mean_landmark_px"] for p in pairs),
        "mean_landmark_fraction": m.mean_or_none(p["mean_landmark_fraction"] for p in pairs),
        "landmark_px_by_type": {name: sum(v) / len(v) for name, v in sorted(per_type.items())},
    }


def compare_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Over the CompareFaces sample: mean Similarity per side, mean |A−B|, and how often both
    sides take the same match decision at Rekognition's default threshold (80)."""
    both = [r for r in records if r["a"]["similarity"] is not None and r["b"]["similarity"] is not None]
    decisions = [(r["a"]["similarity"] >= DEFAULT_MATCH_THRESHOLD) == (r["b"]["similarity"] >= DEFAULT_MATCH_THRESHOLD)
                 for r in both]
    return {
        "pairs": len(records),
        "compared_both": len(both),
        "mean_similarity_a": m.mean_or_none(r["a"]["similarity"] for r in records),
        "mean_similarity_b": m.mean_or_none(r["b"]["similarity"] for r in records),
        "mean_abs_difference": m.mean_or_none(abs(r["a"]["similarity"] - r["b"]["similarity"]) for r in both),
        "same_decision_at_80": m.rate(decisions),
    }


def latency_by_operation(calls: Iterable[CallRecord]) -> dict[str, dict[str, Any]]:
    """Latency summary (ms) per operation, in the order operations were first called."""
    durations: dict[str, list[float]] = {}
    for call in calls:
        durations.setdefault(call.operation, []).append(call.seconds)
    return {operation: m.latency_summary(values) for operation, values in durations.items()}


def _count(records: Iterable[Mapping[str, Any]], key: str, status: str) -> int:
    return sum(1 for r in records if r[key]["status"] == status)


def summarize(gallery: Sequence[Mapping[str, Any]], probes: Sequence[Mapping[str, Any]],
              detect: Sequence[Mapping[str, Any]], compare: Sequence[Mapping[str, Any]],
              labels: Mapping[str, str], identities_known: bool) -> dict[str, Any]:
    """The run's headline numbers, per side and across sides."""
    per_side = {}
    for key in SIDES:
        mated = [p for p in probes if p["metrics"]["mated"]]
        per_side[key] = {
            "label": labels[key],
            "gallery_indexed": _count(gallery, key, "indexed"),
            "gallery_no_face": _count(gallery, key, "no_face"),
            "gallery_unindexed": _count(gallery, key, "unindexed"),
            "gallery_errors": _count(gallery, key, "error"),
            "probes_searched": _count(probes, key, "ok"),
            "probes_no_face": _count(probes, key, "no_face"),
            "probes_errors": _count(probes, key, "error"),
            "rank1_accuracy": m.rate(p["metrics"][f"correct_{key}"] for p in mated) if identities_known else None,
            "rank_k_accuracy": m.rate(p["metrics"][f"in_top_k_{key}"] for p in mated) if identities_known else None,
            "mean_top1_similarity": m.mean_or_none(p["metrics"][f"top1_similarity_{key}"] for p in probes),
        }
    both = [p for p in probes if p["metrics"]["searched_both"]]
    has = {key: [bool(p[key].get("matches")) for p in probes] for key in SIDES}
    return {
        "gallery_images": len(gallery),
        "probes": len(probes),
        "identities_known": identities_known,
        "mated_probes": sum(1 for p in probes if p["metrics"]["mated"]) if identities_known else None,
        "non_mated_probes": sum(1 for p in probes if p["metrics"]["mated"] is False) if identities_known else None,
        "searched_both": len(both),
        "searched_only_a": sum(1 for a, b in zip(has["a"], has["b"], strict=True) if a and not b),
        "searched_only_b": sum(1 for a, b in zip(has["a"], has["b"], strict=True) if b and not a),
        "searched_neither": sum(1 for a, b in zip(has["a"], has["b"], strict=True) if not a and not b),
        "top1_agreements": sum(1 for p in both if p["metrics"]["top1_agree"]),
        "top1_disagreements": sum(1 for p in both if p["metrics"]["top1_agree"] is False),
        "top1_agreement": m.rate(p["metrics"]["top1_agree"] for p in both),
        "mean_jaccard": m.mean_or_none(p["metrics"]["jaccard"] for p in both),
        "mean_spearman": m.mean_or_none(p["metrics"]["spearman"] for p in both),
        "spearman_defined": sum(1 for p in both if p["metrics"]["spearman"] is not None),
        "sides": per_side,
        "detection": detection_summary(detect),
        "compare": compare_summary(compare),
    }


def build_report(config: dict[str, Any], sides: Sequence[Side], gallery: list[dict[str, Any]],
                 probes: list[dict[str, Any]], detect: list[dict[str, Any]], compare: list[dict[str, Any]],
                 identities_known: bool, price_per_image: float | None, warnings: list[str]) -> dict[str, Any]:
    """The whole report (what report.json holds): config, per-item records with their metrics,
    summary, latency and cost. Adds a `metrics` member to each probe and detect record."""
    gallery_identities = {g["identity"] for g in gallery if g["identity"]} if identities_known else None
    for record in probes:
        record["metrics"] = probe_metrics(record, gallery_identities)
    for record in detect:
        record["metrics"] = detection_metrics(record)
    labels = {side.key: side.label for side in sides}
    return {
        "format": "rekog-compare/1",
        "config": config,
        "summary": summarize(gallery, probes, detect, compare, labels, identities_known),
        "latency": {side.key: latency_by_operation(side.calls) for side in sides},
        "cost": {"price_per_image": price_per_image,
                 **{side.key: side_cost(side.calls, side.endpoint, price_per_image) for side in sides}},
        "gallery": gallery,
        "probes": probes,
        "detect_sample": detect,
        "compare_sample": compare,
        "warnings": warnings,
    }
