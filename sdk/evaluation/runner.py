"""The API side of an evaluation: CompareFaces per pair; IndexFaces and SearchFacesByImage for identification.

Each result goes through the `ResultCache` (what is there is not asked again) and is counted in `CallCounts`.
A call the data causes to fail (no face: InvalidParameterException; an unreadable or oversized image) is a
result, scored and kept; any other error (throttling past the retries, a lost connection, access denied)
stops the run, and a rerun resumes from the cache.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .cache import ResultCache, cache_key
from .identification import TOP_K, LabelledImage, ProbeOutcome, Split
from .pairs import Pair

FAILURE_CODES = frozenset({"InvalidParameterException", "InvalidImageFormatException", "ImageTooLargeException"})
"""Errors that belong to the image, not the service: recorded as failures, never retried or dropped."""


@dataclass
class CallCounts:
    """What a run sent and what it took from the cache."""

    compare_faces: int = 0
    index_faces: int = 0
    search_faces_by_image: int = 0
    create_collection: int = 0
    delete_collection: int = 0
    pairs_from_cache: int = 0
    gallery_from_cache: int = 0
    probes_from_cache: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class GalleryEntry:
    """One gallery image: its ExternalImageId, how many faces were indexed, or why none."""

    image: LabelledImage
    external_image_id: str
    faces_indexed: int
    failure: dict[str, str] | None = None


@dataclass
class IdentificationRun:
    """The gallery entries, the probe outcomes (in probe order) and the collection used."""

    collection_id: str
    gallery: list[GalleryEntry]
    outcomes: list[ProbeOutcome]
    indexed: bool = False
    face_model_version: str | None = None
    cleanup_error: str | None = field(default=None)


def _progress(total: int, description: str, enabled: bool, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, disable=not enabled, file=sys.stderr, leave=True)


def _failure(exc: ClientError) -> dict[str, str] | None:
    """{"code", "message"} for an error the image causes; None for any other (which must stop the run)."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code not in FAILURE_CODES:
        return None
    return {"code": code, "message": str(error.get("Message", ""))}


def compare_pair(client: Any, first: Path, second: Path) -> dict[str, Any]:
    """CompareFaces at SimilarityThreshold 0: the highest Similarity among the target faces (0 when none), or
    the failure with Similarity 0."""
    try:
        answer = client.compare_faces(SourceImage={"Bytes": first.read_bytes()},
                                      TargetImage={"Bytes": second.read_bytes()}, SimilarityThreshold=0)
    except ClientError as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        return {"similarity": 0.0, "target_faces": 0, "failure": failure}
    matches = answer.get("FaceMatches", [])
    best = max((float(match["Similarity"]) for match in matches), default=0.0)
    return {"similarity": best, "target_faces": len(matches) + len(answer.get("UnmatchedFaces", [])),
            "failure": None}


def score_pairs(client: Any, pairs: Sequence[Pair], hashes: dict[Path, str], cache: ResultCache, scorer: str,
                counts: CallCounts, progress: bool) -> list[dict[str, Any]]:
    """The CompareFaces result of every pair, in pair order, from the cache or the API."""
    results = []
    with _progress(len(pairs), "CompareFaces", progress, "pair") as bar:
        for pair in pairs:
            key = cache_key("CompareFaces", scorer, hashes[pair.first], hashes[pair.second])
            value = cache.get(key)
            if value is None:
                value = compare_pair(client, pair.first, pair.second)
                counts.compare_faces += 1
                cache.put(key, value)
            else:
                counts.pairs_from_cache += 1
            results.append(value)
            bar.update(1)
    return results


def gallery_fingerprint(split: Split, hashes: dict[Path, str]) -> str:
    """SHA-256 over (identity, image SHA-256) of every gallery image: what a search result depends on."""
    lines = "".join(f"{entry.identity}\t{hashes[entry.path]}\n" for entry in split.gallery)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def collection_name(seed: int, fingerprint: str) -> str:
    """The evaluation's collection: from the seed and the gallery's fingerprint."""
    return f"rekog-compat-eval-s{seed}-{fingerprint[:16]}"


def _external_id(position: int) -> str:
    return f"g{position:06d}"


@contextmanager
def fresh_collection(client: Any, collection_id: str, counts: CallCounts, run: IdentificationRun) -> Iterator[None]:
    """A new, empty collection (one left over by an interrupted run is deleted first), deleted on the way out."""
    try:
        client.delete_collection(CollectionId=collection_id)
        counts.delete_collection += 1
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
    answer = client.create_collection(CollectionId=collection_id)
    counts.create_collection += 1
    run.face_model_version = answer.get("FaceModelVersion")
    try:
        yield
    finally:
        try:
            client.delete_collection(CollectionId=collection_id)
            counts.delete_collection += 1
        except Exception as exc:  # reported, and must not hide the error that got us here
            run.cleanup_error = f"could not delete collection {collection_id}: {exc}"
            print(f"rekog-compat eval: {run.cleanup_error}", file=sys.stderr)


def index_image(client: Any, collection_id: str, image: Path, external_id: str) -> dict[str, Any]:
    """IndexFaces of the largest face (MaxFaces 1, QualityFilter NONE): faces indexed, or the failure."""
    try:
        answer = client.index_faces(CollectionId=collection_id, Image={"Bytes": image.read_bytes()},
                                    ExternalImageId=external_id, MaxFaces=1, QualityFilter="NONE")
    except ClientError as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        return {"faces_indexed": 0, "failure": failure}
    indexed = len(answer.get("FaceRecords", []))
    failure = None if indexed else {"code": "NoFaceIndexed", "message": "IndexFaces found no face to index"}
    return {"faces_indexed": indexed, "failure": failure}


def search_probe(client: Any, collection_id: str, image: Path, identities: dict[str, str]) -> dict[str, Any]:
    """SearchFacesByImage (FaceMatchThreshold 0, MaxFaces 5): [identity, Similarity] best first (ties by
    identity), or the failure."""
    try:
        answer = client.search_faces_by_image(CollectionId=collection_id, Image={"Bytes": image.read_bytes()},
                                              FaceMatchThreshold=0, MaxFaces=TOP_K)
    except ClientError as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        return {"matches": [], "failure": failure}
    matches = [
        (identities.get(match["Face"].get("ExternalImageId", ""), "?"), float(match["Similarity"]))
        for match in answer.get("FaceMatches", [])
    ]
    matches.sort(key=lambda m: (-m[1], m[0]))
    return {"matches": [[identity, similarity] for identity, similarity in matches[:TOP_K]], "failure": None}


def run_identification(client: Any, split: Split, hashes: dict[Path, str], cache: ResultCache, scorer: str,
                       seed: int, counts: CallCounts, progress: bool) -> IdentificationRun:
    """Index the gallery into a fresh collection and search every probe, unless the cache holds every result
    (then nothing is sent, not even the gallery)."""
    fingerprint = gallery_fingerprint(split, hashes)
    run = IdentificationRun(collection_id=collection_name(seed, fingerprint), gallery=[], outcomes=[])
    gallery_keys = [cache_key("IndexFaces", scorer, hashes[entry.path]) for entry in split.gallery]
    probe_keys = [cache_key("SearchFacesByImage", scorer, fingerprint, hashes[probe.path]) for probe in split.probes]
    identities = {_external_id(i): entry.identity for i, entry in enumerate(split.gallery)}
    if not all(cache.has(key) for key in (*gallery_keys, *probe_keys)):
        run.indexed = True
        with fresh_collection(client, run.collection_id, counts, run):
            with _progress(len(split.gallery), "IndexFaces", progress, "image") as bar:
                for position, (entry, key) in enumerate(zip(split.gallery, gallery_keys, strict=True)):
                    cache.put(key, index_image(client, run.collection_id, entry.path, _external_id(position)))
                    counts.index_faces += 1
                    bar.update(1)
            with _progress(len(split.probes), "SearchFacesByImage", progress, "probe") as bar:
                for probe, key in zip(split.probes, probe_keys, strict=True):
                    if cache.get(key) is None:
                        cache.put(key, search_probe(client, run.collection_id, probe.path, identities))
                        counts.search_faces_by_image += 1
                    else:
                        counts.probes_from_cache += 1
                    bar.update(1)
    else:
        counts.gallery_from_cache += len(gallery_keys)
        counts.probes_from_cache += len(probe_keys)
    for position, (entry, key) in enumerate(zip(split.gallery, gallery_keys, strict=True)):
        value = cache.entries[key]
        run.gallery.append(GalleryEntry(entry, _external_id(position), int(value["faces_indexed"]), value["failure"]))
    for probe, key in zip(split.probes, probe_keys, strict=True):
        value = cache.entries[key]
        matches = tuple((str(identity), float(similarity)) for identity, similarity in value["matches"])
        run.outcomes.append(ProbeOutcome(probe, matches, value["failure"]))
    return run
