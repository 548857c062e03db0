"""Fit the Similarity calibration of a model on LFW impostor pairs, and measure it.

    python -m benchmarks.calibrate [--model Dlib] [--detector mtcnn] [--models-dir DIR] [--write]

Embeds the labelled face of every image in `lfw_dev` (the face covering the photo's centre,
as LFW labels it), scores every cross-identity pair (~400k impostor pairs) and every
same-identity pair, and finds the cosine distance at which the false-match rate (FMR) per
pair is 1e-1 .. 1e-6. Below ~1e-5 the data runs out (one pair in 400k is 2.5e-6), so the
tail is extrapolated: probit(FMR) is fitted as a straight line of the distance over the
measured range 1e-4 .. 1e-2 (a Gaussian tail) and continued. `--write` stores the knots
in rekog_compat/engine/calibration/<model>.json; the table goes to stdout and into
docs/accuracy.md by hand.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
from PIL import Image

from benchmarks.lfw import identity_images
from harness.facedata import facedata_location
from rekog_compat.config import default_models_dir
from rekog_compat.engine import DetectedFace, EngineConfig, FaceEngine
from rekog_compat.engine.similarity import TARGET_FMR
from rekog_compat.options import MODELS_DIR

# Similarity at FMR knots: the four targets, plus a shape for the low end.
KNOTS_FMR_TO_SIMILARITY = {0.5: 10.0, 1e-1: 40.0, 1e-2: 65.0, **{v: k for k, v in TARGET_FMR.items()}}
FIT_RANGE = (1e-4, 1e-2)
_PROBIT = np.vectorize(NormalDist().inv_cdf)


def labelled_face(engine: FaceEngine, rgb: np.ndarray) -> DetectedFace | None:
    """The face LFW labels (the one covering the photo's centre; else the largest), or None if none is found."""
    faces = engine.detect(rgb)
    if not faces:
        return None
    cy, cx = rgb.shape[0] / 2, rgb.shape[1] / 2
    covering = [
        f for f in faces
        if f.detection.left <= cx <= f.detection.right and f.detection.top <= cy <= f.detection.bottom
    ]
    return (covering or faces)[0]


def labelled_face_embedding(engine: FaceEngine, path: Path) -> np.ndarray | None:
    """The embedding of the face LFW labels, or None if none is found."""
    face = labelled_face(engine, np.asarray(Image.open(path).convert("RGB")))
    return None if face is None else engine.embed([face])[0]


def embed_gallery(engine: FaceEngine, root: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(embeddings, identity index per row, images, detection failures)."""
    vectors, labels, images, failures = [], [], 0, 0
    for index, (_, paths) in enumerate(identity_images(root).items()):
        for path in paths:
            images += 1
            vector = labelled_face_embedding(engine, path)
            if vector is None:
                failures += 1
                continue
            vectors.append(vector)
            labels.append(index)
    return np.stack(vectors), np.array(labels), images, failures


def pair_distances(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances of all impostor pairs and all genuine pairs (each unordered pair once)."""
    distances = 1.0 - vectors @ vectors.T
    upper = np.triu_indices(len(vectors), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    flat = distances[upper]
    return flat[~same], flat[same]


def distance_at_fmr(impostor: np.ndarray, fmr: float) -> tuple[float, str]:
    """The distance with this FMR: measured where the data has >= 10 pairs, else extrapolated."""
    ordered = np.sort(impostor)
    if fmr * len(ordered) >= 10:
        return float(np.quantile(ordered, fmr)), "measured"
    fit_fmrs = np.geomspace(*FIT_RANGE, 25)
    fit_distances = np.quantile(ordered, fit_fmrs)
    slope, intercept = np.polyfit(fit_distances, _PROBIT(fit_fmrs), 1)
    return float((NormalDist().inv_cdf(fmr) - intercept) / slope), "extrapolated"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="Dlib")
    parser.add_argument("--detector", default=EngineConfig.detector)
    MODELS_DIR.add(parser)
    parser.add_argument("--write", action="store_true", help="store the knots in the package")
    args = parser.parse_args()

    root = facedata_location() / "lfw_dev"
    models_dir = args.models_dir or default_models_dir()
    engine = FaceEngine(EngineConfig(model=args.model, detector=args.detector, deepface_home=tempfile.mkdtemp(),
                                     models_dir=str(models_dir)))
    engine.check_ready()
    started = time.monotonic()
    vectors, labels, images, failures = embed_gallery(engine, root)
    impostor, genuine = pair_distances(vectors, labels)
    print(f"{images} images, {failures} without a detected face, {len(vectors)} embedded "
          f"in {time.monotonic() - started:.0f} s; {len(impostor)} impostor and {len(genuine)} genuine pairs")

    knots = [(0.0, 100.0)]
    print("\n| Similarity | target FMR | cosine distance | how | measured FMR | TAR (genuine pairs) |")
    print("|---:|---:|---:|---|---:|---:|")
    for fmr, similarity in sorted(KNOTS_FMR_TO_SIMILARITY.items()):
        distance, how = distance_at_fmr(impostor, fmr)
        knots.append((distance, similarity))
        measured = float(np.mean(impostor <= distance))
        tar = float(np.mean(genuine <= distance))
        print(f"| {similarity:g} | {fmr:g} | {distance:.4f} | {how} | {measured:.2e} | {tar:.4f} |")
    knots.append((2.0, 0.0))
    knots.sort()
    print(f"\nclosest impostor pair: distance {impostor.min():.4f}; farthest genuine pair: {genuine.max():.4f}")

    if args.write:
        target = Path(__file__).resolve().parents[1] / "rekog_compat" / "engine" / "calibration" / f"{args.model}.json"
        document = {
            "model": args.model,
            "detector": args.detector,
            "metric": "cosine distance of unit embeddings",
            "data": f"lfw_dev: {len(impostor)} impostor pairs, {len(genuine)} genuine pairs",
            "fit": "probit(FMR) linear in distance over FMR 1e-4..1e-2; extrapolated below 1e-5",
            "knots": [[round(d, 6), s] for d, s in knots],
        }
        target.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
