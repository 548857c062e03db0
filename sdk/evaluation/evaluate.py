"""One evaluation, from its inputs to the eval.json document.

The document is deterministic given the inputs, the seed and the server: everything that varies from run to
run (times, durations, the command line with its --out, call and cache counters, the live /health answer with
its collection count) is kept in its "run" section, so two runs compare equal without it.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import verification
from .cache import CACHE_NAME, ResultCache, sha256_file
from .identification import TOP_K, Split, identification_metrics, identity_images, split_gallery
from .pairs import PairsFile, read_pairs
from .runner import CallCounts, IdentificationRun, run_identification, score_pairs

SCHEMA = "rekog-compat-eval/1"
THRESHOLDS = (80.0, 90.0, 95.0, 99.0)
"""Similarity thresholds of the operating-point tables: AWS's default (80) up to its public-safety advice (99)."""
TARGET_FARS = (1e-2, 1e-3, 1e-4)
CALIBRATION_TARGET_FMR = {80.0: 1e-3, 90.0: 1e-4, 95.0: 1e-5, 99.0: 1e-6}
"""What rekog-compat's Similarity calibration promises per impostor pair (docs/accuracy.md); not AWS's."""


class UsageError(ValueError):
    """The inputs cannot be evaluated (missing images, an empty gallery): exit status 2."""


@dataclass(frozen=True)
class Target:
    """Where the calls go: a rekog-compat server (`endpoint_url`) or AWS (`aws`)."""

    aws: bool
    endpoint_url: str | None
    region: str


@dataclass(frozen=True)
class EvalOptions:
    """The inputs of one evaluation."""

    pairs: Path
    images: Path
    out: Path
    gallery: Path | None = None
    seed: int = 0
    progress: bool = True
    command: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Server:
    """What the evaluation measured: its deterministic description, the raw /health answer, the cache scorer."""

    description: dict[str, Any]
    health: dict[str, Any] | None
    scorer: str


def fetch_health(endpoint_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET <endpoint>/health (rekog-compat's version, model and store), or {"error": ...}."""
    url = endpoint_url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # the user's own endpoint
            document = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"error": f"GET {url}: {exc}"}
    return document if isinstance(document, dict) else {"error": f"GET {url}: not a JSON object"}


def describe_server(target: Target, health: dict[str, Any] | None) -> Server:
    """The server section and the cache's scorer: the server's version and model (or AWS and the region)."""
    if target.aws:
        aws: dict[str, Any] = {"service": "Amazon Rekognition", "region": target.region}
        return Server(aws, None, f"aws-rekognition/{target.region}")
    health = health or {}
    keys = ("status", "version", "model", "store", "error")
    stable: dict[str, Any] = {key: health[key] for key in keys if key in health}
    description = {"endpoint_url": target.endpoint_url, "region": target.region, **stable}
    if "model" in health:
        scorer = f"rekog-compat/{health.get('version', '?')}/{health['model']}"
    else:
        scorer = f"unknown-server/{target.endpoint_url}"
    return Server(description, health, scorer)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def load_inputs(options: EvalOptions) -> tuple[PairsFile, Split | None]:
    """The parsed pairs file and the gallery split; UsageError when an image or the gallery is missing."""
    if not options.pairs.is_file():
        raise UsageError(f"--pairs: no such file: {options.pairs}")
    if not options.images.is_dir():
        raise UsageError(f"--images: not a folder: {options.images}")
    pairs = read_pairs(options.pairs, options.images)
    missing = pairs.missing_images()
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        raise UsageError(f"{len(missing)} image(s) of {options.pairs} not found under {options.images}: {shown}"
                         + (" ..." if len(missing) > 5 else ""))
    split = None
    if options.gallery is not None:
        if not options.gallery.is_dir():
            raise UsageError(f"--gallery: not a folder: {options.gallery}")
        identities = identity_images(options.gallery)
        if not identities:
            raise UsageError(f"--gallery: no identity sub-folders with JPEG/PNG images in {options.gallery}")
        split = split_gallery(identities, options.seed)
        if not split.probes:
            raise UsageError(f"--gallery: every identity in {options.gallery} has one image: nothing to probe")
    return pairs, split


def verification_section(pairs: PairsFile, results: Sequence[dict[str, Any]], images: Path,
                         hashes: dict[Path, str]) -> dict[str, Any]:
    """Accuracy, ROC, TAR@FAR, FMR/FNMR at the thresholds, failures and every pair's score."""
    scores = np.array([r["similarity"] for r in results], dtype=float)
    genuine = np.array([p.genuine for p in pairs.pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs.pairs], dtype=int)
    n_genuine, n_impostor = int(genuine.sum()), int((~genuine).sum())

    if pairs.folds > 1:
        kfold = verification.kfold_accuracy(scores, genuine, folds)
        accuracy: dict[str, Any] = {**kfold, "value": kfold["mean"]}
    else:
        threshold, value = verification.best_threshold(scores, genuine)
        accuracy = {"protocol": "1 fold: accuracy at the best threshold chosen on these same pairs (in-sample, "
                                "so optimistic; LFW's protocol needs 10 folds)",
                    "folds": 1, "value": value, "threshold": threshold}

    roc: dict[str, Any] | None = None
    if n_genuine and n_impostor:
        roc = verification.roc_curve(scores, genuine)
    answered = np.array([not r.get("failure") for r in results], dtype=bool)
    operating_points = []
    for threshold in THRESHOLDS:
        row = verification.error_rates_at(scores, genuine, threshold)
        clean = verification.error_rates_at(scores[answered], genuine[answered], threshold)
        row["without_failures"] = {key: clean[key] for key in ("impostors", "false_matches", "fmr", "genuines",
                                                               "false_non_matches", "fnmr")}
        target = CALIBRATION_TARGET_FMR[threshold]
        row["calibration_target_fmr"] = target
        row["calibration_expected_false_matches"] = target * n_impostor
        operating_points.append(row)

    pair_rows, failures = [], []
    for pair, result in zip(pairs.pairs, results, strict=True):
        first, second = _relative(pair.first, images), _relative(pair.second, images)
        failure = result.get("failure")
        pair_rows.append({"pair": pair.index + 1, "line": pair.line, "fold": pair.fold + 1, "genuine": pair.genuine,
                          "first": first, "second": second, "similarity": result["similarity"],
                          "target_faces": result.get("target_faces"),
                          "failure": failure["code"] if failure else None})
        if failure:
            failures.append({"pair": pair.index + 1, "line": pair.line, "genuine": pair.genuine, "first": first,
                             "second": second, **failure})
    return {
        "pairs": len(pairs.pairs),
        "genuine": n_genuine,
        "impostor": n_impostor,
        "folds": pairs.folds,
        "pairs_per_class": pairs.pairs_per_class,
        "accuracy": accuracy,
        "roc": roc,
        "tar_at_far": [verification.tar_at_far(scores, genuine, far) for far in TARGET_FARS],
        "operating_points": operating_points,
        "failures": {
            "count": len(failures),
            "genuine": sum(1 for f in failures if f["genuine"]),
            "impostor": sum(1 for f in failures if not f["genuine"]),
            "by_code": dict(sorted(Counter(f["code"] for f in failures).items())),
            "scored_as": "non-match (Similarity 0)",
            "pairs": failures,
        },
        "scores": pair_rows,
        "image_sha256": {_relative(path, images): hashes[path]
                         for path in sorted({p for pair in pairs.pairs for p in (pair.first, pair.second)})},
    }


def identification_section(split: Split, run: IdentificationRun, gallery_root: Path, seed: int,
                           hashes: dict[Path, str]) -> dict[str, Any]:
    """Rank-1/5 and TIR/FPIR at the thresholds, over all probes and over enrolled ones; failures; every probe."""
    enrolled = {entry.image.identity for entry in run.gallery if entry.faces_indexed > 0}
    faces = sum(entry.faces_indexed for entry in run.gallery)
    gallery_failures = [
        {"identity": e.image.identity, "image": _relative(e.image.path, gallery_root), **(e.failure or {})}
        for e in run.gallery if e.faces_indexed == 0
    ]
    probe_failures = [
        {"identity": o.probe.identity, "image": _relative(o.probe.path, gallery_root), **o.failure}
        for o in run.outcomes if o.failure
    ]
    return {
        "gallery_folder": str(gallery_root),
        "seed": seed,
        "collection_id": run.collection_id,
        "protocol": (f"per identity, images sorted then shuffled with seed '{seed}/<identity>': the first is "
                     "indexed (IndexFaces MaxFaces 1, QualityFilter NONE), the rest are probes (SearchFacesByImage "
                     f"FaceMatchThreshold 0, MaxFaces {TOP_K}); identities with one image are gallery distractors. "
                     "rank-k: the right person among the top k. TIR@t: the top match is the right person with "
                     "Similarity >= t. FPIR@t: some wrong person has Similarity >= t. A probe without a face is a "
                     "failure: a miss and no false positive."),
        "identities": len(split.gallery),
        "distractors": len(split.distractors),
        "gallery_images": len(split.gallery),
        "gallery_faces_indexed": faces,
        "probes": len(split.probes),
        "enrolled_probes": sum(1 for o in run.outcomes if o.probe.identity in enrolled),
        "gallery_failures": gallery_failures,
        "probe_failures": {"count": len(probe_failures),
                           "by_code": dict(sorted(Counter(f["code"] for f in probe_failures).items())),
                           "probes": probe_failures},
        "metrics": identification_metrics(run.outcomes, enrolled, THRESHOLDS),
        "calibration_predicted_fpir": [
            {"threshold": t, "fmr": fmr, "fpir": 1.0 - (1.0 - fmr) ** faces}
            for t, fmr in CALIBRATION_TARGET_FMR.items()
        ],
        "gallery": [{"identity": e.image.identity, "image": _relative(e.image.path, gallery_root),
                     "external_image_id": e.external_image_id, "faces_indexed": e.faces_indexed,
                     "failure": e.failure["code"] if e.failure else None} for e in run.gallery],
        "probe_results": [{"identity": o.probe.identity, "image": _relative(o.probe.path, gallery_root),
                           "matches": [list(m) for m in o.matches], "failure": o.failure["code"] if o.failure else None}
                          for o in run.outcomes],
        "image_sha256": {_relative(item.path, gallery_root): hashes[item.path]
                         for item in sorted((*split.gallery, *split.probes), key=lambda i: i.path)},
    }


def evaluate(client: Any, options: EvalOptions, target: Target, server: Server,
             inputs: tuple[PairsFile, Split | None] | None = None) -> dict[str, Any]:
    """Run the evaluation through `client` and return the eval.json document (its "run" section included).
    `inputs` is what `load_inputs(options)` answers (read here when not given)."""
    started_at, started = _now(), time.perf_counter()
    pairs, split = inputs if inputs is not None else load_inputs(options)
    phases: dict[str, float] = {}

    mark = time.perf_counter()
    paths = {p for pair in pairs.pairs for p in (pair.first, pair.second)}
    if split is not None:
        paths |= {item.path for item in (*split.gallery, *split.probes)}
    hashes = {path: sha256_file(path) for path in sorted(paths)}
    phases["hashing_s"] = time.perf_counter() - mark

    counts = CallCounts()
    options.out.mkdir(parents=True, exist_ok=True)
    with ResultCache(options.out / CACHE_NAME) as cache:
        entries_at_start = len(cache.entries)
        mark = time.perf_counter()
        results = score_pairs(client, pairs.pairs, hashes, cache, server.scorer, counts, options.progress)
        phases["verification_s"] = time.perf_counter() - mark
        identification: dict[str, Any] | None = None
        run: IdentificationRun | None = None
        if split is not None and options.gallery is not None:
            mark = time.perf_counter()
            run = run_identification(client, split, hashes, cache, server.scorer, options.seed, counts,
                                     options.progress)
            phases["identification_s"] = time.perf_counter() - mark
            identification = identification_section(split, run, options.gallery, options.seed, hashes)
        cache_info = {"file": str(cache.path), "entries_at_start": entries_at_start, "stored": cache.stored,
                      "ignored_lines": cache.ignored_lines}

    command = list(options.command)
    return {
        "schema": SCHEMA,
        "target": {"aws": target.aws, "endpoint_url": target.endpoint_url, "region": target.region},
        "server": server.description,
        "scorer": server.scorer,
        "inputs": {
            "pairs_file": str(options.pairs),
            "pairs_sha256": sha256_file(options.pairs),
            "images": str(options.images),
            "gallery": str(options.gallery) if options.gallery is not None else None,
            "seed": options.seed,
        },
        "protocol": {
            "compare": "CompareFaces(SourceImage=first, TargetImage=second, SimilarityThreshold=0); a pair's score "
                       "is the highest Similarity in FaceMatches; a pair where either image has no face "
                       "(InvalidParameterException) or cannot be read is a failure, counted and scored 0",
            "decision": "same person when Similarity >= threshold",
            "thresholds": list(THRESHOLDS),
            "target_fars": list(TARGET_FARS),
            "far_resolution": "a FAR f is resolved only with at least 1/f impostor pairs; otherwise TAR@FAR is null",
        },
        "verification": verification_section(pairs, results, options.images, hashes),
        "identification": identification,
        "run": {
            "started_at": started_at,
            "finished_at": _now(),
            "duration_s": round(time.perf_counter() - started, 3),
            "phases_s": {k: round(v, 3) for k, v in phases.items()},
            "command": command,
            "command_line": shlex.join(command),
            "out": str(options.out),
            "health": server.health,
            "calls": counts.as_dict(),
            "cache": cache_info,
            "face_model_version": run.face_model_version if run else None,
            "gallery_indexed": run.indexed if run else None,
            "collection_cleanup_error": run.cleanup_error if run else None,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
    }
