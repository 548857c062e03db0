"""Collections on LFW: IndexFaces throughput, 1:N identification, and where SearchFacesByImage spends its time.

    python -m benchmarks.collections [--workers 1,2] [--synthetic-sizes 300000,1000000]

The server is the real one (`rekog-compat serve`, started as a subprocess as the API tests start it, data dir in
a temp dir), driven by boto3 with retries off; a client's access key is AKIDEXAMPLE, which maps to the default
account, so every collection lives under (123456789012, us-east-1). The images are the files of
`<facedata>/lfw_dev/<person>/*.jpg`, sent as they are (250x250 JPEG), people and images in sorted order. Every
timing is wall-clock `time.perf_counter`.

1. Indexing throughput. For each worker count of `--workers` (default 2; a comma list runs each into its own fresh
   collection): IndexFaces of every image (ExternalImageId = the image's stem "<person>_<nnnn>", MaxFaces 1,
   QualityFilter NONE) from that many client threads, one boto3 client each. Reported: wall time from the first
   request to the last answer, images/s, faces indexed, the images where no face was indexed (by name), the images
   where more faces were found than indexed, DescribeCollection's FaceCount (which must equal faces indexed), and
   the images whose answer differs from the first run's (a FaceId hashes the face's box: a different FaceId is a
   different detection of the same image).
2. 1:N identification. Gallery: a fresh collection of each person's first image, every person (people with one
   image are distractors), indexed by one client thread, one request at a time. Probes: every other image. One
   SearchFacesByImage per probe, FaceMatchThreshold 0, MaxFaces 5, one at a time. A match's identity is its
   ExternalImageId without the "_<nnnn>". Over ALL probes: rank-1 and rank-5 identification rates; at Similarity
   thresholds 80 (the API's default), 90, 95 and 99 the true identification rate (the top match is the right
   person and reaches the threshold) and the false-positive identification rate (some wrong person reaches it).
   The thresholds are applied to the Similarity of the threshold-0 answer, exactly the filter the server applies;
   the gallery holds at most one face per person, so the best wrong match is always among the top two and five
   matches are enough. A probe where no face is found (InvalidParameterException) is a miss and no false positive;
   a probe whose person got no face in the gallery can only be a miss (and is a false positive if a wrong person
   reaches the threshold). Both are listed by name, and the rates are also given over the probes whose person has
   a face in the gallery.
3. Latency split. HTTP: every probe call of 2 (p50, p95, mean; all calls, and the ones that found a face). In
   this process, on 50 probes spread evenly over those where the server found a face: the engine part,
   `images.decode_image` + `FaceEngine.detect(max_faces=1)` + `FaceEngine.embed` (an engine built as
   benchmarks/calibrate.py builds it), and the search part, `SqliteStore.search_faces` on the server's own data
   dir opened here after the gallery is indexed (limit 4096 and max distance 2.0, the server's work for
   FaceMatchThreshold 0 without MaxFaces; and limit 5, what the HTTP calls ask). Then the bare
   `VectorIndex.search` (one exact matrix-vector product) on synthetic indexes of random unit 128-d float32
   vectors (numpy seed 0) of `--synthetic-sizes` faces, over 50 random unit probes, at (limit 4096, distance 2.0)
   and (limit 5, the distance of Similarity 80). Every in-process measurement has one untimed warm-up call.

Tables are Markdown; the machine and versions come last. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from benchmarks.engine import machine_lines
from benchmarks.lfw import identity_images
from harness.facedata import facedata_location
from harness.live_server import LiveServer
from rekog_compat.engine import EngineConfig, FaceEngine
from rekog_compat.engine.similarity import TARGET_FMR
from rekog_compat.identity import DEFAULT_ACCOUNT, DEFAULT_REGION
from rekog_compat.images import decode_image
from rekog_compat.store import Scope, SqliteStore
from rekog_compat.store.vectors import VectorIndex

ACCESS_KEY = "AKIDEXAMPLE"  # not 12 digits and not mapped: the server's default account
SCOPE = Scope(DEFAULT_ACCOUNT, DEFAULT_REGION)
GALLERY = "lfw-gallery"
# One request at a time: concurrent requests can change what the server detects (see the indexing runs'
# "answers that differ"), and the identification numbers are meant to measure the engine alone.
GALLERY_WORKERS = 1
TOP_K = 5
THRESHOLDS = (80.0, 90.0, 95.0, 99.0)
ENGINE_SAMPLE = 50
SERVER_SEARCH_LIMIT = 4096  # the server's limit when MaxFaces is not given
MAX_DISTANCE = 2.0  # cosine distance of Similarity 0: every face
SYNTHETIC_DIMENSIONS = 128
SYNTHETIC_PROBES = 50
SYNTHETIC_SEED = 0

T = TypeVar("T")


@dataclass(frozen=True)
class LfwImage:
    """One LFW photo: whose it is, its stem (the ExternalImageId) and its JPEG bytes."""

    person: str
    name: str
    jpeg: bytes


def person_of(external_image_id: str) -> str:
    """The person an ExternalImageId names: George_W_Bush_0004 -> George_W_Bush."""
    return external_image_id.rsplit("_", 1)[0]


def load_people(root: Path) -> dict[str, list[LfwImage]]:
    """Every person of `root` and their images, sorted."""
    if not root.is_dir():
        raise SystemExit(f"{root} not found: set $REKOG_FACEDATA to the shared facedata folder")
    return {
        person: [LfwImage(person, path.stem, path.read_bytes()) for path in paths]
        for person, paths in identity_images(root).items()
    }


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- timing helpers ----------------------------------------------------------------------------------------


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def time_calls(call: Callable[[T], object], inputs: Sequence[T]) -> list[float]:
    """Milliseconds per call over `inputs`, after one untimed warm-up call on the first."""
    if not inputs:
        return []
    call(inputs[0])
    samples = []
    for item in inputs:
        start = time.perf_counter()
        call(item)
        samples.append(elapsed_ms(start))
    return samples


def latency_row(label: str, samples_ms: Sequence[float]) -> str:
    if not samples_ms:
        return f"| {label} | 0 | - | - | - |"
    p50, p95 = np.percentile(samples_ms, [50, 95])
    return f"| {label} | {len(samples_ms)} | {p50:.2f} | {p95:.2f} | {np.mean(samples_ms):.2f} |"


LATENCY_HEADER = "| measurement | calls | p50 ms | p95 ms | mean ms |\n|---|---:|---:|---:|---:|"


def spread(items: Sequence[T], count: int) -> list[T]:
    """`count` items evenly spaced over `items` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def percent(part: int, whole: int) -> str:
    return f"{part} ({100.0 * part / whole:.1f} %)" if whole else f"{part} (-)"


def names(items: Iterable[str]) -> str:
    listed = sorted(items)
    return ", ".join(listed) if listed else "none"


# -- the server --------------------------------------------------------------------------------------------


class Clients:
    """One boto3 Rekognition client per thread, each from its own session (sessions are not thread-safe)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()

    def get(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.session.Session().client(
                "rekognition",
                endpoint_url=self.url,
                region_name=DEFAULT_REGION,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key="x",
                config=Config(retries={"max_attempts": 1}),
            )
            self._local.client = client
        return client


def error_text(exc: Exception) -> str:
    """An AWS error as its code and message, any other exception as its type and text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response["Error"].get("Code") if isinstance(response, dict) and "Error" in response else None


# -- 1. indexing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexOutcome:
    """What IndexFaces answered for one image: the FaceIds indexed, faces found but not indexed, or an error.

    A FaceId is a hash of the image, the ExternalImageId and the face's box, so the same image gets the same
    FaceIds in two collections exactly when its detection was the same.
    """

    name: str
    face_ids: tuple[str, ...] = ()
    unindexed: int = 0
    error: str | None = None

    @property
    def indexed(self) -> int:
        return len(self.face_ids)


@dataclass(frozen=True)
class IndexRun:
    """One pass of IndexFaces over a list of images into one collection."""

    collection_id: str
    workers: int
    outcomes: list[IndexOutcome]
    wall_s: float
    face_count: int

    @property
    def faces_indexed(self) -> int:
        return sum(o.indexed for o in self.outcomes)

    @property
    def no_face(self) -> list[str]:
        """Images answered without error but with no face indexed."""
        return [o.name for o in self.outcomes if o.error is None and o.indexed == 0]

    @property
    def not_indexed(self) -> list[str]:
        """Images with no face indexed, for whatever reason (no face found, or an error)."""
        return [o.name for o in self.outcomes if o.indexed == 0]

    @property
    def more_faces(self) -> list[str]:
        """Images where faces beyond MaxFaces were found and left out (EXCEEDS_MAX_FACES)."""
        return [o.name for o in self.outcomes if o.unindexed]

    @property
    def errors(self) -> list[str]:
        return [f"{o.name}: {o.error}" for o in self.outcomes if o.error is not None]


def index_image(client: Any, collection_id: str, image: LfwImage) -> IndexOutcome:
    try:
        answer = client.index_faces(
            CollectionId=collection_id,
            Image={"Bytes": image.jpeg},
            ExternalImageId=image.name,
            MaxFaces=1,
            QualityFilter="NONE",
        )
    except Exception as exc:  # recorded and reported, never dropped
        return IndexOutcome(image.name, error=error_text(exc))
    face_ids = tuple(record["Face"]["FaceId"] for record in answer["FaceRecords"])
    return IndexOutcome(image.name, face_ids, len(answer["UnindexedFaces"]))


def index_collection(clients: Clients, collection_id: str, images: Sequence[LfwImage], workers: int) -> IndexRun:
    """Create `collection_id` and index every image from `workers` threads."""
    clients.get().create_collection(CollectionId=collection_id)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda image: index_image(clients.get(), collection_id, image), images))
    wall_s = time.perf_counter() - start
    face_count = int(clients.get().describe_collection(CollectionId=collection_id)["FaceCount"])
    return IndexRun(collection_id, workers, outcomes, wall_s, face_count)


def changed_answers(run: IndexRun, reference: IndexRun) -> list[str]:
    """Images whose IndexFaces answer (FaceIds, faces left out, error) differs from the reference run's."""
    theirs = {o.name: o for o in reference.outcomes}
    return [o.name for o in run.outcomes if o != theirs.get(o.name)]


def indexing_report(runs: Sequence[IndexRun]) -> list[str]:
    lines = [
        "| workers | images | wall s | images/s | faces indexed | images, no face indexed"
        " | images, more faces than MaxFaces | DescribeCollection FaceCount | FaceCount = faces indexed | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        images = len(run.outcomes)
        lines.append(
            f"| {run.workers} | {images} | {run.wall_s:.1f} | {images / run.wall_s:.2f} | {run.faces_indexed}"
            f" | {len(run.no_face)} | {len(run.more_faces)} | {run.face_count}"
            f" | {'yes' if run.face_count == run.faces_indexed else 'NO'} | {len(run.errors)} |"
        )
    for run in runs:
        lines += [
            "",
            f"workers={run.workers} (collection {run.collection_id}):",
            f"- no face indexed ({len(run.no_face)}): {names(run.no_face)}",
            f"- more faces found than indexed ({len(run.more_faces)}): {names(run.more_faces)}",
        ]
        lines += [f"- error: {error}" for error in run.errors]
        if run is not runs[0]:
            changed = changed_answers(run, runs[0])
            lines.append(
                f"- answers that differ from the workers={runs[0].workers} run (FaceIds, i.e. boxes, or faces left"
                f" out; the same images and server): {len(changed)}: {names(changed)}"
            )
    return lines


# -- 2. identification -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    person: str
    similarity: float


@dataclass(frozen=True)
class ProbeResult:
    """One SearchFacesByImage: its matches (best first), or why there are none, and its latency."""

    image: LfwImage
    latency_ms: float
    matches: tuple[Match, ...] = ()
    error: str | None = None
    no_face: bool = False

    @property
    def answered(self) -> bool:
        return self.error is None and not self.no_face


def search_probe(client: Any, image: LfwImage) -> ProbeResult:
    start = time.perf_counter()
    try:
        answer = client.search_faces_by_image(
            CollectionId=GALLERY, Image={"Bytes": image.jpeg}, FaceMatchThreshold=0, MaxFaces=TOP_K
        )
    except Exception as exc:  # a probe that fails is counted, never dropped
        latency = elapsed_ms(start)
        if error_code(exc) == "InvalidParameterException":
            return ProbeResult(image, latency, no_face=True)
        return ProbeResult(image, latency, error=error_text(exc))
    latency = elapsed_ms(start)
    matches = tuple(
        Match(person_of(m["Face"].get("ExternalImageId", "")), float(m["Similarity"])) for m in answer["FaceMatches"]
    )
    return ProbeResult(image, latency, tuple(sorted(matches, key=lambda m: -m.similarity)))


def identified_at_rank(probe: ProbeResult, rank: int) -> bool:
    return any(m.person == probe.image.person for m in probe.matches[:rank])


def true_identification(probe: ProbeResult, threshold: float) -> bool:
    if not probe.matches:
        return False
    top = probe.matches[0]
    return top.person == probe.image.person and top.similarity >= threshold


def false_positive(probe: ProbeResult, threshold: float) -> bool:
    return any(m.person != probe.image.person and m.similarity >= threshold for m in probe.matches)


def rate_rows(groups: Sequence[Sequence[ProbeResult]]) -> list[str]:
    """One row per measure, one column per group of probes."""
    measures: list[tuple[str, Callable[[ProbeResult], bool]]] = [
        ("rank-1 identification (threshold 0)", partial(identified_at_rank, rank=1)),
        (f"rank-{TOP_K} identification (threshold 0)", partial(identified_at_rank, rank=TOP_K)),
    ]
    for threshold in THRESHOLDS:
        default = " (default)" if threshold == 80.0 else ""
        measures += [
            (f"TIR at {threshold:g}{default}", partial(true_identification, threshold=threshold)),
            (f"FPIR at {threshold:g}{default}", partial(false_positive, threshold=threshold)),
        ]
    return [
        f"| {label} | " + " | ".join(percent(sum(map(test, group)), len(group)) for group in groups) + " |"
        for label, test in measures
    ]


def expected_fpir_line(gallery_faces: int) -> str:
    """The FPIR the calibration predicts: a per-pair false-match rate f over G independent faces, 1 - (1 - f)^G."""
    predicted = ", ".join(
        f"{threshold:g} (FMR {fmr:g}): {100.0 * (1.0 - (1.0 - fmr) ** gallery_faces):.3g} %"
        for threshold, fmr in sorted(TARGET_FMR.items())
    )
    return f"- FPIR the calibration predicts for {gallery_faces} gallery faces, 1 - (1 - FMR)^faces: {predicted}"


def identification_report(gallery: IndexRun, probes: Sequence[ProbeResult], people: int) -> list[str]:
    missing = gallery.not_indexed
    absent_people = {person_of(name) for name in missing}
    enrolled = [p for p in probes if p.image.person not in absent_people]
    orphaned = [p for p in probes if p.image.person in absent_people]
    no_face = [p.image.name for p in probes if p.no_face]
    errors = [f"{p.image.name}: {p.error}" for p in probes if p.error is not None]
    lines = [
        f"Gallery {GALLERY}: {len(gallery.outcomes)} images (first of each of {people} people), "
        f"{gallery.faces_indexed} faces indexed in {gallery.wall_s:.1f} s with {gallery.workers} worker(s), "
        f"DescribeCollection FaceCount {gallery.face_count}. Probes: {len(probes)} (every other image).",
        "",
        f"| measure | all {len(probes)} probes | {len(enrolled)} probes whose person has a gallery face |",
        "|---|---:|---:|",
        *rate_rows([probes, enrolled]),
        "",
        "TIR: top match is the right person with Similarity >= threshold. FPIR: some wrong person has Similarity"
        " >= threshold. Every rate is over every probe of its column; failures are counted as below.",
        f"- probes where the server found no face (InvalidParameterException; a miss, no false positive):"
        f" {len(no_face)}: {names(no_face)}",
        f"- probes that failed otherwise (a miss, no false positive): {len(errors)}",
        *[f"  - {error}" for error in errors],
        f"- gallery images with no face indexed: {len(missing)}: {names(missing)}",
        f"- their {len(orphaned)} probes ({names(p.image.name for p in orphaned)}) stay in the 'all probes' column,"
        " where they can only be misses for rank-1/rank-5/TIR and count as false positives whenever a (necessarily"
        " wrong) person reaches the threshold; the second column leaves them out.",
        expected_fpir_line(gallery.face_count),
        f"- probes with the right person in the top {TOP_K} but not first:"
        f" {sum(identified_at_rank(p, TOP_K) and not identified_at_rank(p, 1) for p in probes)}",
    ]
    return lines


# -- 3. latency split --------------------------------------------------------------------------------------


@dataclass
class EngineTimes:
    """Per-stage milliseconds of the engine part, and the embedding each probe gave (None: no face)."""

    decode: list[float]
    detect: list[float]
    embed: list[float]
    total: list[float]
    vectors: list[np.ndarray | None]


def build_engine(deepface_home: Path) -> FaceEngine:
    """The engine as benchmarks/calibrate.py builds it: the server's defaults, models loaded now."""
    engine = FaceEngine(EngineConfig(model="Dlib", detector="dlib", deepface_home=str(deepface_home)))
    engine.check_ready()
    return engine


def probe_vector(engine: FaceEngine, jpeg: bytes, into: EngineTimes | None = None) -> np.ndarray | None:
    """decode_image + detect(max_faces=1) + embed of one probe, each stage timed into `into` when given."""
    start = time.perf_counter()
    image = decode_image(jpeg)
    decoded = time.perf_counter()
    faces = engine.detect(image.rgb, max_faces=1)
    detected = time.perf_counter()
    vector = engine.embed(faces)[0] if faces else None
    done = time.perf_counter()
    if into is not None:
        into.decode.append((decoded - start) * 1000.0)
        into.detect.append((detected - decoded) * 1000.0)
        if faces:
            into.embed.append((done - detected) * 1000.0)
        into.total.append((done - start) * 1000.0)
        into.vectors.append(vector)
    return vector


def time_engine(engine: FaceEngine, images: Sequence[LfwImage]) -> EngineTimes:
    if images:
        probe_vector(engine, images[0].jpeg)  # warm-up
    times = EngineTimes([], [], [], [], [])
    for image in images:
        probe_vector(engine, image.jpeg, times)
    return times


def store_search(store: SqliteStore, limit: int) -> Callable[[np.ndarray], list[Any]]:
    return lambda vector: store.search_faces(SCOPE, GALLERY, vector, limit, max_distance=MAX_DISTANCE)


def top_match_agreement(store: SqliteStore, sample: Sequence[ProbeResult], vectors: Sequence[np.ndarray | None]) -> int:
    """How many probes of the sample get the same top person in process as over HTTP."""
    agree = 0
    for probe, vector in zip(sample, vectors, strict=True):
        if vector is None or not probe.matches:
            continue
        hits = store.search_faces(SCOPE, GALLERY, vector, 1, max_distance=MAX_DISTANCE)
        agree += bool(hits) and person_of(hits[0][0].external_image_id or "") == probe.matches[0].person
    return agree


def split_report(
    engine: FaceEngine, probes: Sequence[ProbeResult], sample: Sequence[ProbeResult], data_dir: Path
) -> list[str]:
    """HTTP latency of every probe, then the engine and store parts in this process on `sample`."""
    progress(f"in-process engine on {len(sample)} probes")
    engine_times = time_engine(engine, [p.image for p in sample])
    vectors = [v for v in engine_times.vectors if v is not None]
    progress("in-process store search")
    store = SqliteStore(data_dir)
    try:
        search_all = time_calls(store_search(store, SERVER_SEARCH_LIMIT), vectors)
        search_top = time_calls(store_search(store, TOP_K), vectors)
        agree = top_match_agreement(store, sample, engine_times.vectors)
    finally:
        store.close()
    return [
        LATENCY_HEADER,
        latency_row("SearchFacesByImage over HTTP, every probe", [p.latency_ms for p in probes]),
        latency_row("SearchFacesByImage over HTTP, probes with a face", [p.latency_ms for p in probes if p.answered]),
        latency_row("SearchFacesByImage over HTTP, the in-process sample", [p.latency_ms for p in sample]),
        latency_row("engine: decode_image (in-process)", engine_times.decode),
        latency_row("engine: detect(max_faces=1) (in-process)", engine_times.detect),
        latency_row("engine: embed (in-process)", engine_times.embed),
        latency_row("engine: decode + detect + embed (in-process)", engine_times.total),
        latency_row(f"store.search_faces limit {SERVER_SEARCH_LIMIT}, distance 2.0 (in-process)", search_all),
        latency_row(f"store.search_faces limit {TOP_K}, distance 2.0 (in-process)", search_top),
        "",
        f"- in-process sample: {len(sample)} probes spread over those where the server found a face; the engine"
        f" found a face in {len(vectors)} of them; its top match is the HTTP answer's top person for {agree}.",
    ]


def synthetic_index(size: int, rng: np.random.Generator) -> VectorIndex:
    """`size` random unit vectors (Gaussian, normalised) under labels 0, 1, ..."""
    vectors = rng.standard_normal((size, SYNTHETIC_DIMENSIONS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(SYNTHETIC_DIMENSIONS)
    index.add(np.arange(size, dtype=np.int64), vectors)
    return index


def random_probes(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    probes = rng.standard_normal((count, SYNTHETIC_DIMENSIONS), dtype=np.float32)
    return list(probes / np.linalg.norm(probes, axis=1, keepdims=True))


def available_memory_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def synthetic_rows(size: int, distance_at_80: float) -> list[str]:
    """Build one synthetic index and time VectorIndex.search on it, at threshold 0 / limit 4096 and 80 / 5."""
    progress(f"synthetic index of {size:,} vectors")
    rng = np.random.default_rng(SYNTHETIC_SEED)
    index = synthetic_index(size, rng)
    probes = random_probes(SYNTHETIC_PROBES, rng)
    rows = []
    for limit, max_distance in ((SERVER_SEARCH_LIMIT, MAX_DISTANCE), (TOP_K, distance_at_80)):
        search = partial(index.search, limit=limit, max_distance=max_distance)
        samples = time_calls(search, probes)
        hits = np.mean([len(search(probe)) for probe in probes])
        p50, p95 = np.percentile(samples, [50, 95])
        rows.append(
            f"| {size:,} | {size * SYNTHETIC_DIMENSIONS * 4 / 2**20:.0f} | {limit} | {max_distance:.4f}"
            f" | {len(samples)} | {p50:.2f} | {p95:.2f} | {np.mean(samples):.2f} | {hits:g} |"
        )
    return rows


def synthetic_report(sizes: Sequence[int], distance_at_80: float) -> list[str]:
    """VectorIndex.search timings per synthetic size; a size that would not fit in memory is named and skipped."""
    lines = [
        f"## VectorIndex.search on synthetic indexes (random unit {SYNTHETIC_DIMENSIONS}-d float32, numpy seed"
        f" {SYNTHETIC_SEED}; distance {distance_at_80:.4f} is Similarity 80)",
        "",
        "| faces | matrix MB | limit | max distance | probes | p50 ms | p95 ms | mean ms | mean hits |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    skipped = []
    for size in sizes:
        needed = size * (SYNTHETIC_DIMENSIONS * 4 * 3 + 200)  # generation + the index's copy + ids
        if needed > available_memory_bytes():
            skipped.append(f"- {size:,} faces skipped: needs ~{needed / 2**20:.0f} MB, less is available")
            continue
        lines += synthetic_rows(size, distance_at_80)
    return lines + skipped


# -- main --------------------------------------------------------------------------------------------------


def worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return counts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workers", type=worker_counts, default=[2], help="client threads for IndexFaces, e.g. 1,2 (default 2)"
    )
    parser.add_argument(
        "--synthetic-sizes",
        type=worker_counts,
        default=[300_000, 1_000_000],
        help="faces in the synthetic VectorIndex, comma list (default 300000,1000000)",
    )
    return parser.parse_args(argv)


def gallery_and_probes(people: dict[str, list[LfwImage]]) -> tuple[list[LfwImage], list[LfwImage]]:
    """Each person's first image, and every other image."""
    gallery = [images[0] for images in people.values()]
    probes = [image for images in people.values() for image in images[1:]]
    return gallery, probes


def run_benchmarks(
    server: LiveServer, engine: FaceEngine, people: dict[str, list[LfwImage]], workers: Sequence[int]
) -> list[str]:
    """Every measurement that needs the started server; the report's lines."""
    clients = Clients(server.url)
    all_images = [image for images in people.values() for image in images]
    gallery_images, probe_images = gallery_and_probes(people)
    clients.get().detect_faces(Image={"Bytes": all_images[0].jpeg})  # warm-up: connection, first inference

    runs = []
    for number, count in enumerate(workers, start=1):
        progress(f"indexing {len(all_images)} images with {count} worker(s)")
        runs.append(index_collection(clients, f"lfw-index-{number}-{count}w", all_images, count))
    progress(f"gallery: {len(gallery_images)} images")
    gallery = index_collection(clients, GALLERY, gallery_images, GALLERY_WORKERS)
    progress(f"searching {len(probe_images)} probes")
    search_probe(clients.get(), probe_images[0])  # warm-up: the gallery's index is read from disk
    probes = [search_probe(clients.get(), image) for image in probe_images]
    sample = spread([p for p in probes if p.answered], ENGINE_SAMPLE)
    return [
        f"## 1. IndexFaces throughput ({len(all_images)} lfw_dev images, MaxFaces 1, QualityFilter NONE)",
        "",
        *indexing_report(runs),
        "",
        f"## 2. 1:N identification on lfw_dev (SearchFacesByImage, FaceMatchThreshold 0, MaxFaces {TOP_K})",
        "",
        *identification_report(gallery, probes, len(people)),
        "",
        f"## 3. SearchFacesByImage latency split (gallery of {gallery.face_count} faces)",
        "",
        *split_report(engine, probes, sample, server.data_dir),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    people = load_people(facedata_location() / "lfw_dev")
    with tempfile.TemporaryDirectory(prefix="rekog-bench-") as temp:
        server = LiveServer(Path(temp) / "data")  # before the engine sets DeepFace's environment in this process
        try:
            server.start()
            engine = build_engine(Path(temp) / "engine")
            lines = run_benchmarks(server, engine, people, args.workers)
        finally:
            server.stop()
    lines += ["", *synthetic_report(args.synthetic_sizes, engine.similarity_scale.distance_at(80.0))]
    versions = f"- numpy {np.__version__}; the server runs its default 8 request threads"
    lines += ["", "## Machine", "", *machine_lines(), versions]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
