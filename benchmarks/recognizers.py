"""Recognition models (embedders) compared on lfw_dev, on one detection per photo.

    python -m benchmarks.recognizers [--candidates Dlib,Dlib-flip,...] [--detector NAME]
                                     [--fuse Dlib-flip+Human-FaceRes:0.3 ...] [--models-dir DIR] [--json FILE]

Every lfw_dev photo is decoded and its labelled face found once (by default dlib's HOG detector, the engine's
default, or --detector's; then dlib's 68 landmarks; the face covering the photo's centre, as
`benchmarks.calibrate` picks it). Then, per
candidate, each face's aligned chip is cut at the candidate's size and padding (`core.face_chip`) and
embedded on its own, as IndexFaces embeds one face (that call is timed: ms per face, median and mean; then,
since the machine's load changes between candidates, once more with the candidates taking turns face by
face on `--timing-faces` faces, twice over: "interleaved" medians, the ones to compare).
From those vectors, cached for the run:

- verification on the official 600 pairs (lfw_dev/pairs_fold1.txt, LFW's fold 1: 300 same, 300 different),
  score = cosine similarity, a pair with a photo without a face scores below every real pair (a non-match): accuracy at
  the best threshold on the 600 (in-sample; also on the pairs whose two faces were found, the recognizer's
  part alone), and 10-fold cross-validated (pairs 30k..30k+29 of each kind
  form fold k; threshold chosen on 9, tested on the 10th; mean ± std, sdk.evaluation.verification);
- accuracy at Similarity 80: the distance threshold `benchmarks.calibrate` fits for the candidate (FMR 1e-3
  over all ~428k impostor pairs of lfw_dev's labelled faces), applied to the 600 pairs;
- 1:N rank-1 as `benchmarks.collections` measures it through the API: gallery = each person's first photo
  (435 people; those with one photo are distractors), probes = every other photo (498); rank-1 = the
  nearest gallery face is the right person (sdk.evaluation.identification), a probe without a face is a miss.

--fuse A+B:W adds a score-level fusion of two candidates run above: each face's vector is A's and B's unit
vectors side by side, weighted sqrt(1 - W) and sqrt(W), so that its cosine similarity is (1 - W) times A's plus
W times B's; its ms per face is the sum of theirs.

Human's models need `rekog-compat models install human-models` (--models-dir or REKOG_COMPAT_MODELS_DIR);
`--detector ssd-mobilenet` needs `rekog-compat models install`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.calibrate import distance_at_fmr, labelled_face, pair_distances
from benchmarks.lfw import identity_images, read_pairs
from harness.facedata import facedata_location
from rekog_compat.config import default_models_dir
from rekog_compat.engine import DetectedFace, EngineConfig, FaceEngine, registry
from rekog_compat.engine.core import face_chip
from rekog_compat.engine.embedding import DlibEmbedder, Embedder
from rekog_compat.engine.fusion import fuse_vectors
from rekog_compat.engine.human import human_embedder
from rekog_compat.engine.model_packages import HUMAN_MODELS
from rekog_compat.engine.weights import packaged_weight
from rekog_compat.options import MODELS_DIR
from sdk.evaluation.identification import LabelledImage, ProbeOutcome, rates
from sdk.evaluation.verification import accuracy_at, best_threshold, kfold_accuracy

FOLDS = 10
NO_FACE_SCORE = -2.0  # below any cosine similarity: a pair with a missing face is a non-match
SIMILARITY_80_FMR = 1e-3


def _dlib(**options: Any) -> Callable[[Path], Embedder]:
    def build(_: Path) -> Embedder:
        return DlibEmbedder(str(packaged_weight("dlib_face_recognition_resnet_model_v1.dat")), **options)
    return build


def _human(model: str, flip: bool = False, padding: float | None = None) -> Callable[[Path], Embedder]:
    return lambda models_dir: human_embedder(models_dir, model, flip=flip, padding=padding)


def _registered(model: str) -> Callable[[Path], Embedder]:
    """An embedder as the server builds it for `--model`."""
    return lambda models_dir: registry.embedder(model).build(str(models_dir))


CANDIDATES: dict[str, tuple[str, Callable[[Path], Embedder]]] = {
    "Dlib": ("face-recognition-models (PyPI), CC0 weights", _dlib()),
    "Dlib-flip": ("face-recognition-models (PyPI), CC0 weights", _dlib(model="Dlib-flip", flip=True)),
    "Dlib-jitter5": ("face-recognition-models (PyPI), CC0 weights", _dlib(model="Dlib-jitter5", jitters=5)),
    "Human-FaceRes": (f"{HUMAN_MODELS.spec} (npm), MIT", _human("Human-FaceRes")),
    "Human-FaceRes-pad0.2": (f"{HUMAN_MODELS.spec} (npm), MIT", _human("Human-FaceRes", padding=0.2)),
    "Human-FaceRes-flip": (f"{HUMAN_MODELS.spec} (npm), MIT", _human("Human-FaceRes", flip=True)),
    "Human-FaceRes-Deep": (f"{HUMAN_MODELS.spec} (npm), MIT", _human("Human-FaceRes-Deep")),
    "Human-MobileFaceNet": (f"{HUMAN_MODELS.spec} (npm), MIT", _human("Human-MobileFaceNet")),
    "Human-MobileFace": (f"{HUMAN_MODELS.spec} (npm), MIT", _human("Human-MobileFace")),
    "Dlib+FaceRes": (f"face-recognition-models (PyPI), CC0 weights; {HUMAN_MODELS.spec} (npm), MIT",
                     _registered("Dlib+FaceRes")),
}


@dataclass(frozen=True)
class Photo:
    person: str
    path: Path
    rgb: np.ndarray
    face: DetectedFace | None


def find_faces(root: Path, detector: str, models_dir: Path) -> list[Photo]:
    """Every photo under `root` with its labelled face (one detection each, the engine's pipeline with `detector`)."""
    engine = FaceEngine(EngineConfig(detector=detector, models_dir=str(models_dir)))
    engine.check_ready()
    photos = []
    for person, paths in identity_images(root).items():
        for path in paths:
            rgb = np.asarray(Image.open(path).convert("RGB"))
            photos.append(Photo(person, path, rgb, labelled_face(engine, rgb)))
    return photos


def embed_all(embedder: Embedder, photos: list[Photo]) -> tuple[dict[Path, np.ndarray], list[float]]:
    """Each found face's unit embedding by photo, and the ms each one-face embed took (after one warm-up)."""
    vectors: dict[Path, np.ndarray] = {}
    times: list[float] = []
    found = [p for p in photos if p.face is not None]
    for index, photo in enumerate(found):
        assert photo.face is not None
        chip = face_chip(photo.rgb, photo.face.detection, photo.face.points, embedder.chip_size,
                         embedder.chip_padding)
        if index == 0:
            embedder.embed([chip])
        started = time.perf_counter()
        vectors[photo.path] = embedder.embed([chip])[0]
        times.append(1000 * (time.perf_counter() - started))
    return vectors, times


def interleaved_times(embedders: dict[str, Embedder], photos: list[Photo], faces: int, rounds: int
                      ) -> dict[str, float]:
    """Median ms of a one-face embed per candidate, the candidates taking turns face by face (`faces` faces
    spread over the photos, `rounds` passes), so that a change of load on the machine weighs on all alike."""
    found = [p for p in photos if p.face is not None]
    sample = found[:: max(1, len(found) // faces)][:faces]
    chips = {name: [face_chip(p.rgb, p.face.detection, p.face.points, e.chip_size, e.chip_padding)
                    for p in sample if p.face is not None] for name, e in embedders.items()}
    times: dict[str, list[float]] = {name: [] for name in embedders}
    for name, embedder in embedders.items():
        embedder.embed(chips[name][:1])  # warm-up
    for _ in range(rounds):
        for index in range(len(sample)):
            for name, embedder in embedders.items():
                started = time.perf_counter()
                embedder.embed([chips[name][index]])
                times[name].append(1000 * (time.perf_counter() - started))
    return {name: float(np.median(values)) for name, values in times.items()}


def verification(vectors: dict[Path, np.ndarray], pairs_file: Path, distance_80: float) -> dict[str, Any]:
    """Best-threshold accuracy on all pairs, 10-fold accuracy, and accuracy at the Similarity-80 distance."""
    pairs = list(read_pairs(pairs_file))
    per_fold = {same: max(1, sum(p[2] == same for p in pairs) // FOLDS) for same in (True, False)}
    scores, genuine, folds = [], [], []
    seen = {True: 0, False: 0}
    for first, second, same in pairs:
        a, b = vectors.get(first), vectors.get(second)
        scores.append(NO_FACE_SCORE if a is None or b is None else float(a @ b))
        genuine.append(same)
        folds.append(min(seen[same] // per_fold[same], FOLDS - 1))
        seen[same] += 1
    threshold, best = best_threshold(scores, genuine)
    kfold = kfold_accuracy(scores, genuine, folds)
    found = [i for i, score in enumerate(scores) if score != NO_FACE_SCORE]
    _, best_found = best_threshold([scores[i] for i in found], [genuine[i] for i in found])
    return {
        "pairs": len(scores),
        "pairs_without_a_face": sum(s == NO_FACE_SCORE for s in scores),
        "best_threshold_cosine_similarity": threshold,
        "best_threshold_accuracy": best,
        "kfold_mean": kfold["mean"],
        "kfold_std": kfold["std"],
        "best_threshold_accuracy_pairs_with_faces": best_found,
        "similarity80_distance": distance_80,
        "similarity80_accuracy": accuracy_at(scores, genuine, 1.0 - distance_80),
    }


def identification(vectors: dict[Path, np.ndarray], photos: list[Photo]) -> dict[str, Any]:
    """Rank-1 with each person's first photo as the gallery and every other photo as a probe."""
    people: dict[str, list[Photo]] = {}
    for photo in photos:
        people.setdefault(photo.person, []).append(photo)
    gallery = [(person, vectors[shots[0].path]) for person, shots in people.items() if shots[0].path in vectors]
    matrix = np.stack([v for _, v in gallery])
    outcomes = []
    for person, shots in people.items():
        for probe in shots[1:]:
            matches: tuple[tuple[str, float], ...] = ()
            if probe.path in vectors:
                similarity = matrix @ vectors[probe.path]
                best = np.argsort(-similarity)[:5]
                matches = tuple((gallery[i][0], float(similarity[i])) for i in best)
            outcomes.append(ProbeOutcome(LabelledImage(person, probe.path), matches))
    found = rates(outcomes, [])
    return {"gallery": len(gallery), "probes": found["probes"], "rank1": found["rank1"], "rank5": found["rank5"]}


def fused(first: dict[Path, np.ndarray], second: dict[Path, np.ndarray], weight: float) -> dict[Path, np.ndarray]:
    """Each face's two unit vectors fused as `--model Dlib+FaceRes` fuses them (`fusion.fuse_vectors`)."""
    return {path: fuse_vectors(first[path], second[path], weight)[0] for path in first}


def parse_fusion(text: str) -> tuple[str, str, float]:
    """'A+B:W' -> (A, B, W)."""
    names, _, weight = text.partition(":")
    first, _, second = names.partition("+")
    if not first or not second or not 0.0 < float(weight or "nan") < 1.0:
        raise argparse.ArgumentTypeError(f"--fuse wants A+B:W with 0 < W < 1, not {text!r}")
    return first, second, float(weight)


def evaluate(name: str, vectors: dict[Path, np.ndarray], times: list[float], photos: list[Photo],
             pairs_file: Path) -> dict[str, Any]:
    paths = [p.path for p in photos if p.path in vectors]
    index = {person: i for i, person in enumerate(sorted({p.person for p in photos}))}
    labels = np.array([index[p.person] for p in photos if p.path in vectors])
    impostor, genuine = pair_distances(np.stack([vectors[p] for p in paths]), labels)
    distance_80, _ = distance_at_fmr(impostor, SIMILARITY_80_FMR)
    return {
        "candidate": name,
        "dimensions": int(next(iter(vectors.values())).shape[0]),
        "photos": len(photos),
        "photos_without_a_face": len(photos) - len(vectors),
        "ms_per_face_median": float(np.median(times)),
        "ms_per_face_mean": float(np.mean(times)),
        "impostor_pairs": len(impostor),
        "genuine_pairs": len(genuine),
        **verification(vectors, pairs_file, distance_80),
        **identification(vectors, photos),
    }


def row(result: dict[str, Any], source: str) -> str:
    interleaved = f"{result['ms_per_face_interleaved']:.0f}" if "ms_per_face_interleaved" in result else "—"
    return (f"| {result['candidate']} | {source} | {100 * result['best_threshold_accuracy']:.2f} % | "
            f"{100 * result['kfold_mean']:.2f} ± {100 * result['kfold_std']:.2f} % | "
            f"{100 * result['similarity80_accuracy']:.2f} % (d ≤ {result['similarity80_distance']:.4f}) | "
            f"{100 * result['rank1']:.1f} % | {result['ms_per_face_median']:.0f} / {interleaved} | "
            f"{result['photos_without_a_face']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help=f"comma-separated: {', '.join(CANDIDATES)}")
    MODELS_DIR.add(parser)
    parser.add_argument("--detector", default=EngineConfig.detector, help="the detector that finds each photo's face")
    parser.add_argument("--fuse", type=parse_fusion, action="append", default=[], metavar="A+B:W",
                        help="also a score-level fusion of candidates A and B, B weighing W (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--timing-faces", type=int, default=60,
                        help="faces of the interleaved timing pass after the accuracy runs (0: none)")
    parser.add_argument("--timing-only", action="store_true", help="only the interleaved timing pass")
    args = parser.parse_args()
    names = args.candidates.split(",")
    unknown = [n for n in names if n not in CANDIDATES]
    unknown += [n for first, second, _ in args.fuse for n in (first, second) if n not in names]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    models_dir = Path(args.models_dir or default_models_dir())
    root = facedata_location() / "lfw_dev"
    started = time.monotonic()
    photos = find_faces(root, args.detector, models_dir)
    print(f"{len(photos)} photos, {sum(p.face is None for p in photos)} without a face ({args.detector}); "
          f"detected in {time.monotonic() - started:.0f} s", flush=True)
    results = []
    embedders: dict[str, Embedder] = {}
    runs: dict[str, tuple[dict[Path, np.ndarray], list[float]]] = {}
    sources = {name: CANDIDATES[name][0] for name in names}
    parts = {name: [name] for name in names}  # the candidates whose embeddings each result's vectors are
    for name in names:
        embedders[name] = CANDIDATES[name][1](models_dir)
        if not args.timing_only:
            runs[name] = embed_all(embedders[name], photos)
    for first, second, weight in [] if args.timing_only else args.fuse:
        name = f"{first}+{second}:{weight:g}"
        sources[name], parts[name] = f"{sources[first]}; {sources[second]}", [first, second]
        times = [a + b for a, b in zip(runs[first][1], runs[second][1], strict=True)]
        runs[name] = (fused(runs[first][0], runs[second][0], weight), times)
    for name, (vectors, times) in runs.items():
        result = evaluate(name, vectors, times, photos, root / "pairs_fold1.txt")
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.timing_faces:
        medians = interleaved_times(embedders, photos, args.timing_faces, rounds=2)
        ratios = {name: round(value / medians[names[0]], 2) for name, value in medians.items()}
        print(f"interleaved ms per face (median), and as a multiple of {names[0]}'s:", json.dumps(ratios))
        for result in results:
            result["ms_per_face_interleaved"] = sum(medians[part] for part in parts[result["candidate"]])
        print("interleaved ms per face (median):", json.dumps(medians), flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| candidate | source, licence | best-threshold accuracy (600 pairs) | 10-fold mean ± std | "
          "accuracy at Similarity 80 | rank-1 | ms per face: run p50 / interleaved p50 | photos without a face |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(row(result, sources[result["candidate"]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
