"""Face detectors side by side: WIDER FACE recall, false detections, time per image, and LFW photos with no face.

    python -m benchmarks.detectors [--detectors dlib,ssd-mobilenet] [--min-scores 0,0.7,0.9] [--lfw] [--every K]
                                   [--json OUT]

Each detector is the engine's (rekog_compat.engine.registry), built as the server builds it
(`ssd-mobilenet` needs `rekog-compat models install`; --models-dir or REKOG_COMPAT_MODELS_DIR says
where), run in this process on decoded RGB pixels; wall-clock `time.perf_counter` per image.

- WIDER: every photo of `<facedata>/wider_face_val_subset` (145 val photos, the official boxes).
  A labelled face counts when it is valid (WIDER's `invalid` flag 0) and its shorter side is at
  least 40 px (or 20 px); it is found when a detection overlaps it with IoU >= 0.3 (detectors draw
  tighter or looser boxes than WIDER's annotators; 0.3 is the test suite's criterion too). A
  detection that overlaps no labelled box at all (valid or not, any size) by IoU >= 0.3 is false.
- --lfw: every photo of `<facedata>/lfw_dev` (933): how many give no face at all.
- --min-scores: detections below a score (0..1: the detector's confidence / 100) are dropped
  before counting; each score given is counted from the same run, to read a detector's trade-off
  between recall and false detections. `mtcnn` drops its own answers under 0.9 and `scrfd` under 0.915 (its
  confidence scale, engine/scrfd.py); where a lower score is given their cut is lowered to the lowest, so
  that every score is counted from one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.facedata import facedata_location
from rekog_compat.config import default_models_dir
from rekog_compat.engine import registry
from rekog_compat.engine.detection import Detection, Detector
from rekog_compat.engine.geometry import iou
from rekog_compat.options import MODELS_DIR

Box = tuple[float, float, float, float]


def boxes(detections: list[Detection], min_score: float) -> list[Box]:
    return [d.corners for d in detections if d.confidence >= 100 * min_score]


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def wider(detector: Detector, root: Path, min_scores: list[float], every: int = 1) -> dict[str, Any]:
    """Recall and false detections at each minimum score (one detection run per photo; every `every`-th photo)."""
    everything = json.loads((root / "annotations.json").read_text())
    labels = {name: everything[name] for name in sorted(everything)[::every]}
    detections = {}
    times = []
    for name in labels:
        image = rgb(root / "images" / name)
        started = time.perf_counter()
        detections[name] = detector.detect(image)
        times.append(time.perf_counter() - started)
    result: dict[str, Any] = {"images": len(labels), "ms_p50": 1000 * float(np.median(times)),
                              "ms_max": 1000 * max(times), "by_min_score": {}}
    for min_score in min_scores:
        found = {20: 0, 40: 0}
        total = {20: 0, 40: 0}
        false = 0
        for name, label in labels.items():
            detected = boxes(detections[name], min_score)
            truth = [(x, y, x + w, y + h) for x, y, w, h in label["boxes"]]
            for box, (_, _, w, h), invalid in zip(truth, label["boxes"], label["invalid"], strict=True):
                if invalid:
                    continue
                hit = any(iou(box, d) >= 0.3 for d in detected)
                for size in (20, 40):
                    if min(w, h) >= size:
                        total[size] += 1
                        found[size] += hit
            false += sum(all(iou(t, d) < 0.3 for t in truth) for d in detected)
        result["by_min_score"][min_score] = {
            "recall_40px": found[40] / total[40], "faces_40px": total[40],
            "recall_20px": found[20] / total[20], "faces_20px": total[20],
            "false_per_image": false / len(labels),
        }
    return result


def lfw_without_a_face(detector: Detector, root: Path, min_score: float) -> dict[str, Any]:
    paths = sorted(root.glob("*/*.jpg"))
    missed = [p.name for p in paths if not boxes(detector.detect(rgb(p)), min_score)]
    return {"photos": len(paths), "no_face": len(missed), "examples": missed[:10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", default="dlib,ssd-mobilenet")
    parser.add_argument("--min-scores", default="0", help="comma-separated, 0..1")
    parser.add_argument("--lfw", action="store_true")
    parser.add_argument("--every", type=int, default=1,
                        help="WIDER: every k-th photo only (by name), to compare slow detectors on the same subset")
    MODELS_DIR.add(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = facedata_location()
    if not data.is_dir():
        raise SystemExit(f"face data not found at {data}")
    min_scores = [float(score) for score in args.min_scores.split(",")]
    results = {}
    for name in args.detectors.split(","):
        detector = registry.detector(name).build(args.models_dir or default_models_dir())
        if hasattr(detector, "min_confidence") and min(min_scores) > 0:  # MTCNN, SCRFD: their cut, lowered
            detector.min_confidence = min(min_scores)
        result: dict[str, Any] = {"wider": wider(detector, data / "wider_face_val_subset", min_scores, args.every)}
        if args.lfw:
            result["lfw_dev"] = lfw_without_a_face(detector, data / "lfw_dev", min(min_scores))
        results[name] = result
        print(name, json.dumps(result), flush=True)
    print("| detector | min score | recall ≥40 px | recall ≥20 px | false / image | ms p50 / max | lfw_dev no face |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        w = r["wider"]
        lfw = f"{r['lfw_dev']['no_face']} of {r['lfw_dev']['photos']}" if "lfw_dev" in r else "-"
        for min_score, m in w["by_min_score"].items():
            print(f"| {name} | {min_score:g} | {m['recall_40px']:.3f} ({m['faces_40px']}) "
                  f"| {m['recall_20px']:.3f} ({m['faces_20px']}) | {m['false_per_image']:.2f} "
                  f"| {w['ms_p50']:.0f} / {w['ms_max']:.0f} | {lfw} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
