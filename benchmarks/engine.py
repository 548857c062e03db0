"""Latency of DetectFaces and CompareFaces through HTTP, against DeepFace.represent in-process.

    python -m benchmarks.engine [--images N] [--repeat K] [-- SERVE OPTIONS, e.g. --model Dlib+FaceRes --models-dir D]

What is measured, each as wall-clock time per call (`time.perf_counter`), after 2 untimed warm-up calls:

- the real server (`rekog-compat serve`, started as a subprocess exactly as the API tests start it, data dir
  in a temp dir), driven by boto3 with retries off, so a sample is the whole round trip: request signing,
  HTTP on loopback, JPEG decode, detection, landmarks, attributes/embeddings, JSON both ways;
  - DetectFaces (Attributes DEFAULT) and DetectFaces (Attributes ALL) on each one-face image;
  - IndexFaces (MaxFaces 1) of each one-face image into one collection (the embedding and the store too);
  - CompareFaces of image i against image i+1 (wrapping around, so N pairs for N images);
  - DetectFaces (DEFAULT) on the 6-face group photo, and CompareFaces of one LFW face against it;
- the baseline, in this process: `DeepFace.represent(img_path=<BGR array>, model_name="Dlib",
  detector_backend=..., enforce_detection=False)` with DeepFace's other defaults (align=True), on the same
  pixels already decoded (so the baseline pays no JPEG decode and no HTTP), for the "dlib" detector and,
  when its weights are available offline, the "opencv" one. DeepFace is made offline first: weights are
  linked from the `face-recognition-models` package and its downloader is replaced by a check.

Images (decided once, the same for every measurement): N photos of `<facedata>/lfw_dev/*/*.jpg` (sorted
paths, every k-th, k = total // N), each re-encoded in memory to 640 px on the long side (LFW's 250x250
is upscaled to 640x640) as JPEG quality 90; the 6-face photo is re-encoded the same way and reported
separately. Every measurement is warmed up, then `--repeat` rounds each time one pass of every measurement
over its inputs in turn (interleaved, so that a change of load on the machine weighs on all alike).

Reported: calls, p50, p95 (numpy percentile) and mean in ms per measurement, as a Markdown table, then the
ratios "DetectFaces p50 / DeepFace.represent p50" and "CompareFaces p50 / (2 x DeepFace.represent p50)"
(the goal: a one-face 640-px image costs <= 0.35x DeepFace.represent), face-count disagreements between
the server and DeepFace, the machine and the versions of deepface, dlib and onnxruntime.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.facedata import facedata_location
from harness.live_server import LiveServer
from rekog_compat.engine.core import prepare_environment
from rekog_compat.engine.weights import forbid_downloads, link_packaged_weights

LONG_SIDE_PX = 640
JPEG_QUALITY = 90
WARM_UP_CALLS = 2
GROUP_PHOTO = Path("nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg")
GOAL_RATIO = 0.35
BASELINE_DETECTORS = ("dlib", "opencv")
BENCH_COLLECTION = "bench"


@dataclass(frozen=True)
class BenchImage:
    """One benchmark image: the JPEG bytes sent to the server and the same pixels as BGR for DeepFace."""

    name: str
    jpeg: bytes
    bgr: np.ndarray


@dataclass
class Measurement:
    """Per-call latencies of one measurement, and what the first pass over the inputs answered."""

    label: str
    samples_ms: list[float] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.samples_ms, q))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples_ms))


# -- images ------------------------------------------------------------------------------------------------


def reencode(path: Path) -> BenchImage:
    """The photo scaled to LONG_SIDE_PX on its long side, as in-memory JPEG and as the decoded BGR pixels."""
    with Image.open(path) as original:
        rgb = original.convert("RGB")
    scale = LONG_SIDE_PX / max(rgb.size)
    resized = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    resized.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    jpeg = buffer.getvalue()
    with Image.open(io.BytesIO(jpeg)) as decoded:
        bgr = np.ascontiguousarray(np.asarray(decoded.convert("RGB"))[:, :, ::-1])
    return BenchImage(name=path.stem, jpeg=jpeg, bgr=bgr)


def pick_lfw_paths(root: Path, count: int) -> list[Path]:
    """`count` LFW photos: sorted paths, every k-th."""
    paths = sorted(root.glob("*/*.jpg"))
    if len(paths) < count:
        raise SystemExit(f"only {len(paths)} images under {root}, {count} asked for")
    step = len(paths) // count
    return paths[::step][:count]


# -- timing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """One measurement to take: a call and the inputs it is timed on."""

    key: str
    label: str
    call: Callable[[Any], Any]
    inputs: Sequence[Any]


def warm_up(bench: Benchmark) -> None:
    """WARM_UP_CALLS untimed calls (loading models, filling caches, opening the HTTP connection)."""
    for index in range(WARM_UP_CALLS):
        with contextlib.suppress(Exception):  # the timed passes record any error
            bench.call(bench.inputs[index % len(bench.inputs)])


def timed_pass(bench: Benchmark, into: Measurement, keep_answers: bool) -> None:
    """Time one call per input. A call that raises is timed all the same and its error kept, so that
    one failing input neither stops the benchmark nor silently drops out of the numbers."""
    for item in bench.inputs:
        answer: Any = None
        start = time.perf_counter()
        try:
            answer = bench.call(item)
        except Exception as exc:  # recorded, reported below the table
            answer = exc
        into.samples_ms.append((time.perf_counter() - start) * 1000.0)
        if keep_answers:
            into.answers.append(answer)
            if isinstance(answer, Exception):
                into.errors.append(f"{type(answer).__name__}: {answer}")


def run_interleaved(benches: Sequence[Benchmark], repeat: int) -> dict[str, Measurement]:
    """Warm every benchmark up, then take `repeat` rounds of one pass of each in turn, so that a change of
    load on the machine during the run weighs on every measurement alike, not on whichever ran then."""
    for bench in benches:
        warm_up(bench)
    results = {bench.key: Measurement(bench.label) for bench in benches}
    for round_number in range(repeat):
        for bench in benches:
            timed_pass(bench, results[bench.key], keep_answers=round_number == 0)
    return results


# -- the server --------------------------------------------------------------------------------------------


def rekognition_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="123456789012",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def server_benchmarks(client: Any, singles: list[BenchImage], group: BenchImage) -> list[Benchmark]:
    """Every HTTP measurement."""

    def detect(attributes: str) -> Callable[[BenchImage], Any]:
        return lambda image: client.detect_faces(Image={"Bytes": image.jpeg}, Attributes=[attributes])

    def compare(pair: tuple[BenchImage, BenchImage]) -> Any:
        return client.compare_faces(SourceImage={"Bytes": pair[0].jpeg}, TargetImage={"Bytes": pair[1].jpeg})

    def index(image: BenchImage) -> Any:
        return client.index_faces(CollectionId=BENCH_COLLECTION, Image={"Bytes": image.jpeg}, MaxFaces=1)

    pairs = [(image, singles[(i + 1) % len(singles)]) for i, image in enumerate(singles)]
    against_group = [(image, group) for image in singles]
    client.create_collection(CollectionId=BENCH_COLLECTION)
    return [
        Benchmark("detect", "DetectFaces DEFAULT (HTTP)", detect("DEFAULT"), singles),
        Benchmark("detect_all", "DetectFaces ALL (HTTP)", detect("ALL"), singles),
        Benchmark("index", "IndexFaces MaxFaces 1 (HTTP)", index, singles),
        Benchmark("compare", "CompareFaces i vs i+1 (HTTP)", compare, pairs),
        Benchmark("group_detect", "DetectFaces DEFAULT, 6-face photo (HTTP)", detect("DEFAULT"), [group]),
        Benchmark("group_compare", "CompareFaces LFW face vs 6-face photo (HTTP)", compare, against_group),
    ]


# -- the baseline ------------------------------------------------------------------------------------------


def offline_deepface(home: str) -> Any:
    """DeepFace, imported only after its environment points at linked weights and downloads are forbidden."""
    prepare_environment(home)
    link_packaged_weights(home)
    forbid_downloads()
    from deepface import DeepFace

    return DeepFace


def baseline_benchmarks(
    deepface: Any, singles: list[BenchImage], group: BenchImage
) -> tuple[list[Benchmark], dict[str, str]]:
    """DeepFace.represent per detector backend that works offline; the others are named with the reason."""
    benches: list[Benchmark] = []
    unavailable: dict[str, str] = {}
    for backend in BASELINE_DETECTORS:

        def represent(image: BenchImage, backend: str = backend) -> Any:
            return deepface.represent(
                img_path=image.bgr, model_name="Dlib", detector_backend=backend, enforce_detection=False
            )

        try:
            represent(singles[0])
        except Exception as exc:  # e.g. OpenCV 5 wheels ship no Haar cascades
            unavailable[backend] = f"{type(exc).__name__}: {exc}"
            continue
        label = f"DeepFace.represent Dlib, detector {backend}"
        benches += [
            Benchmark(backend, f"{label} (in-process)", represent, singles),
            Benchmark(f"group_{backend}", f"{label}, 6-face photo (in-process)", represent, [group]),
        ]
    return benches, unavailable


# -- report ------------------------------------------------------------------------------------------------


def markdown_table(measurements: Sequence[Measurement]) -> str:
    rows = [
        "| measurement | calls | p50 ms | p95 ms | mean ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in measurements:
        rows.append(
            f"| {m.label} | {len(m.samples_ms)} | {m.percentile(50):.1f} | {m.percentile(95):.1f} | {m.mean:.1f} |"
        )
    return "\n".join(rows)


def ratio_lines(server: dict[str, Measurement], baseline: dict[str, Measurement]) -> list[str]:
    lines = []
    for backend in BASELINE_DETECTORS:
        if backend not in baseline:
            continue
        represent = baseline[backend].percentile(50)
        detect = server["detect"].percentile(50) / represent
        detect_all = server["detect_all"].percentile(50) / represent
        index = server["index"].percentile(50) / represent
        compare = server["compare"].percentile(50) / (2 * represent)
        lines += [
            f"- DetectFaces DEFAULT p50 / DeepFace.represent ({backend}) p50 = {detect:.2f}"
            f" (goal <= {GOAL_RATIO}: {'met' if detect <= GOAL_RATIO else 'not met'})",
            f"- DetectFaces ALL p50 / DeepFace.represent ({backend}) p50 = {detect_all:.2f}",
            f"- IndexFaces p50 / DeepFace.represent ({backend}) p50 = {index:.2f}"
            f" (goal <= {GOAL_RATIO}: {'met' if index <= GOAL_RATIO else 'not met'})",
            f"- CompareFaces p50 / (2 x DeepFace.represent ({backend}) p50) = {compare:.2f}"
            f" (goal <= {GOAL_RATIO}: {'met' if compare <= GOAL_RATIO else 'not met'})",
        ]
        group_key = f"group_{backend}"
        if group_key in baseline:
            group = server["group_detect"].percentile(50) / baseline[group_key].percentile(50)
            lines.append(f"- 6-face photo: DetectFaces p50 / DeepFace.represent ({backend}) p50 = {group:.2f}")
    return lines


def server_face_count(answer: Any) -> int | None:
    return None if isinstance(answer, Exception) else len(answer["FaceDetails"])


def deepface_face_count(answer: Any) -> int | None:
    """Faces DeepFace found: its "no face" answer is one whole-image entry at confidence 0."""
    if isinstance(answer, Exception):
        return None
    return sum(1 for face in answer if float(face.get("face_confidence") or 0.0) > 0.0)


def face_count_lines(
    images: list[BenchImage], group: BenchImage, server: dict[str, Measurement], baseline: dict[str, Measurement]
) -> list[str]:
    """Faces per image as the server and DeepFace see them: a summary, then every disagreement or no-face image."""
    checks = [("detect", "", images), ("group_detect", "group_", [group])]
    lines = []
    for backend in BASELINE_DETECTORS:
        if backend not in baseline:
            continue
        agree, odd = 0, []
        for server_key, prefix, inputs in checks:
            theirs = baseline[prefix + backend].answers
            for image, mine, other in zip(inputs, server[server_key].answers, theirs, strict=True):
                ours, deepface = server_face_count(mine), deepface_face_count(other)
                agree += ours == deepface and bool(ours)
                if ours != deepface or not ours or image is group:
                    odd.append(f"- {image.name}: server {ours} face(s), DeepFace ({backend}) {deepface}")
        summary = f"- {agree} of {len(images) + 1} images: server and DeepFace ({backend})"
        lines += [f"{summary} find the same number of faces", *odd]
    return lines


def processor_name() -> str:
    """platform.processor(), or the model name Linux gives in /proc/cpuinfo where that is empty."""
    if platform.processor():
        return platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_lines() -> list[str]:
    import deepface
    import dlib
    import onnxruntime

    return [
        f"- machine: {os.cpu_count()} CPUs, {processor_name()}, {platform.machine()},"
        f" {platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- deepface {deepface.__version__}, dlib {dlib.__version__}, onnxruntime {onnxruntime.__version__}",
    ]


def report(
    images: list[BenchImage],
    group: BenchImage,
    server: dict[str, Measurement],
    baseline: dict[str, Measurement],
    unavailable: dict[str, str],
    repeat: int,
) -> None:
    height, width = group.bgr.shape[:2]
    print(
        f"\n{len(images)} LFW images re-encoded to {LONG_SIDE_PX} px (JPEG q{JPEG_QUALITY}), 6-face photo at"
        f" {width}x{height}; {WARM_UP_CALLS} warm-up calls each, then {repeat} round(s) of one pass per"
        " measurement, measurements interleaved.\n"
    )
    print(markdown_table([*server.values(), *baseline.values()]))
    print("\nRatios:")
    print("\n".join(ratio_lines(server, baseline)))
    for backend, reason in unavailable.items():
        print(f"- DeepFace.represent with detector {backend}: unavailable offline ({reason})")
    print("\nFace counts:")
    print("\n".join(face_count_lines(images, group, server, baseline)))
    errors = [f"- {m.label}: {error}" for m in [*server.values(), *baseline.values()] for error in m.errors]
    if errors:
        print("\nCalls that failed (timed all the same):")
        print("\n".join(errors))
    print("\nMachine:")
    print("\n".join(machine_lines()))


# -- main --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20, help="one-face LFW images (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per measurement (default 3)")
    parser.add_argument("serve_options", nargs="*", help="options for the server (`rekog-compat serve`), after --")
    args = parser.parse_args(argv)
    if args.images < 2 or args.repeat < 1:
        parser.error("--images must be >= 2 and --repeat >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    facedata = facedata_location()
    images = [reencode(path) for path in pick_lfw_paths(facedata / "lfw_dev", args.images)]
    group = reencode(facedata / GROUP_PHOTO)
    with tempfile.TemporaryDirectory(prefix="rekog-bench-") as temp:
        # before DeepFace's environment is set in this process
        server = LiveServer(Path(temp) / "data", *args.serve_options)
        try:
            server.start()
            http = server_benchmarks(rekognition_client(server.url), images, group)
            deepface = offline_deepface(str(Path(temp) / "deepface"))
            baseline, unavailable = baseline_benchmarks(deepface, images, group)
            results = run_interleaved([*http, *baseline], args.repeat)
        finally:
            server.stop()
    server_results = {bench.key: results[bench.key] for bench in http}
    baseline_results = {bench.key: results[bench.key] for bench in baseline}
    report(images, group, server_results, baseline_results, unavailable, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
