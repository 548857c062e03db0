"""Runs the comparison's API calls on both sides and keeps their raw, timed results.

Every call goes through `Side.call`, which times it (time.perf_counter, around the boto3 call:
serialization, signing, network, service) and records it whatever the outcome, so latency and
cost count every call made. Work is interleaved per item (A then B for each image) so that
both sides see the same conditions over the run, and sequential so that one side's calls
never slow the other's down on a shared machine.

A service error never stops the run: a probe or gallery image without a face
(InvalidParameterException, or an empty answer) is recorded as "no_face", anything else the
service refuses as "error" with its code; neither is dropped.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError, ParamValidationError

from .dataset import ImageItem

Progress = Callable[[str], None]

# The calls that send an image (what AWS bills per image).
IMAGE_OPERATIONS = ("IndexFaces", "SearchFacesByImage", "DetectFaces", "CompareFaces")
# Rekognition's answer to an image in which no face is found (search, compare).
NO_FACE_ERROR = "InvalidParameterException"
# SearchFacesByImage's MaxFaces limit (botocore's model).
MAX_TOP_K = 4096


def stderr_progress(message: str) -> None:
    """Progress lines on stderr (stdout stays free for a CLI's own output)."""
    print(f"[rekog-compare] {message}", file=sys.stderr, flush=True)


def no_progress(message: str) -> None:
    """Progress sink that says nothing."""


@dataclass(frozen=True)
class CallRecord:
    """One API call: its operation, how long it took, and the error code if it failed."""

    operation: str
    seconds: float
    error_code: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A call's answer (None on error), its duration and, on error, the code and message."""

    response: dict[str, Any] | None
    seconds: float
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def entry(self, status: str) -> dict[str, Any]:
        """The JSON-ready part every per-side record starts with."""
        error = None if self.ok else {"code": self.error_code, "message": self.error_message}
        return {"status": status, "latency_ms": self.seconds * 1000.0, "error": error}


@dataclass
class Side:
    """One side of the comparison: a boto3 Rekognition client, its label and its call log."""

    key: str
    label: str
    client: Any
    collection_id: str | None = None
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    @property
    def region(self) -> str | None:
        region = getattr(self.client.meta, "region_name", None)
        return str(region) if region else None

    def call(self, operation: str, **params: Any) -> Outcome:
        """Call `operation` (e.g. "IndexFaces"), timed; service and parameter errors are returned."""
        method = getattr(self.client, xform_name(operation))
        start = perf_counter()
        try:
            response = method(**params)
        except ClientError as exc:
            seconds = perf_counter() - start
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "ClientError")
            self.calls.append(CallRecord(operation, seconds, code))
            return Outcome(None, seconds, code, str(error.get("Message") or exc))
        except ParamValidationError as exc:  # refused before sending (e.g. an empty file)
            seconds = perf_counter() - start
            self.calls.append(CallRecord(operation, seconds, "ParamValidationError"))
            return Outcome(None, seconds, "ParamValidationError", str(exc))
        seconds = perf_counter() - start
        self.calls.append(CallRecord(operation, seconds))
        response = dict(response)
        response.pop("ResponseMetadata", None)
        return Outcome(response, seconds)


def _read(path: Path) -> bytes:
    return Path(path).read_bytes()


def create_collections(sides: Sequence[Side], run_id: str) -> None:
    """A fresh collection per side, `rekog-compare-<run_id>-<side>` (unique even on one server)."""
    for side in sides:
        collection_id = f"rekog-compare-{run_id}-{side.key}"
        outcome = side.call("CreateCollection", CollectionId=collection_id)
        if not outcome.ok:
            raise RuntimeError(f"side {side.label}: CreateCollection {collection_id} failed: "
                               f"{outcome.error_code}: {outcome.error_message}")
        side.collection_id = collection_id


def delete_collections(sides: Sequence[Side]) -> list[str]:
    """Delete the collections this run created; problems come back as warnings, never raised."""
    warnings = []
    for side in sides:
        if side.collection_id is None:
            continue
        try:
            outcome = side.call("DeleteCollection", CollectionId=side.collection_id)
        except Exception as exc:  # cleanup must not hide the run's own outcome
            warnings.append(f"side {side.label}: DeleteCollection {side.collection_id}: {exc}")
            continue
        if not outcome.ok:
            warnings.append(f"side {side.label}: DeleteCollection {side.collection_id}: "
                            f"{outcome.error_code}: {outcome.error_message}")
    return warnings


def index_gallery(sides: Sequence[Side], gallery: Mapping[str, ImageItem], progress: Progress) -> list[dict[str, Any]]:
    """IndexFaces (MaxFaces=1) of every gallery image on every side.

    Per side: "indexed" (with FaceId and box), "no_face" (nothing detected), "unindexed" (a face
    was found but the quality filter left it out; reasons given) or "error".
    """
    records = []
    for n, (external_id, item) in enumerate(gallery.items(), start=1):
        progress(f"IndexFaces {n}/{len(gallery)} {item.relative}")
        image = _read(item.path)
        record: dict[str, Any] = {"file": item.relative, "external_image_id": external_id, "identity": item.identity}
        for side in sides:
            outcome = side.call("IndexFaces", CollectionId=side.collection_id, Image={"Bytes": image},
                                ExternalImageId=external_id, MaxFaces=1)
            record[side.key] = _index_entry(outcome)
        records.append(record)
    return records


def _index_entry(outcome: Outcome) -> dict[str, Any]:
    if outcome.response is None:
        entry = outcome.entry("no_face" if outcome.error_code == NO_FACE_ERROR else "error")
        entry.update(face_id=None, bounding_box=None, confidence=None, unindexed_reasons=[])
        return entry
    faces = outcome.response.get("FaceRecords") or []
    unindexed = outcome.response.get("UnindexedFaces") or []
    reasons = sorted({str(r) for face in unindexed for r in face.get("Reasons", [])})
    status = "indexed" if faces else ("unindexed" if unindexed else "no_face")
    entry = outcome.entry(status)
    face = faces[0].get("Face", {}) if faces else {}
    entry.update(face_id=face.get("FaceId"), bounding_box=face.get("BoundingBox"), confidence=face.get("Confidence"),
                 unindexed_reasons=reasons)
    return entry


def search_probes(sides: Sequence[Side], probes: Sequence[ImageItem], top_k: int,
                  gallery: Mapping[str, ImageItem], progress: Progress) -> list[dict[str, Any]]:
    """SearchFacesByImage (FaceMatchThreshold 0, MaxFaces top_k) of every probe on every side.

    Matches keep their rank, ExternalImageId, Similarity, FaceId, box on the gallery image, and
    the gallery file and person the ExternalImageId maps back to.
    """
    records = []
    for n, item in enumerate(probes, start=1):
        progress(f"SearchFacesByImage {n}/{len(probes)} {item.relative}")
        image = _read(item.path)
        record: dict[str, Any] = {"file": item.relative, "identity": item.identity}
        for side in sides:
            outcome = side.call("SearchFacesByImage", CollectionId=side.collection_id, Image={"Bytes": image},
                                MaxFaces=top_k, FaceMatchThreshold=0)
            record[side.key] = _search_entry(outcome, gallery)
        records.append(record)
    return records


def _search_entry(outcome: Outcome, gallery: Mapping[str, ImageItem]) -> dict[str, Any]:
    if outcome.response is None:
        entry = outcome.entry("no_face" if outcome.error_code == NO_FACE_ERROR else "error")
        entry.update(searched_face_bounding_box=None, searched_face_confidence=None, matches=[])
        return entry
    matches = []
    for rank, match in enumerate(outcome.response.get("FaceMatches") or [], start=1):
        face = match.get("Face", {})
        external_id = face.get("ExternalImageId")
        item = gallery.get(external_id) if isinstance(external_id, str) else None
        matches.append({
            "rank": rank,
            "external_image_id": external_id,
            "similarity": _number(match.get("Similarity")),
            "face_id": face.get("FaceId"),
            "bounding_box": face.get("BoundingBox"),
            "gallery_file": item.relative if item else None,
            "identity": item.identity if item else None,
        })
    entry = outcome.entry("ok")
    entry.update(searched_face_bounding_box=outcome.response.get("SearchedFaceBoundingBox"),
                 searched_face_confidence=_number(outcome.response.get("SearchedFaceConfidence")), matches=matches)
    return entry


def detect_sample(sides: Sequence[Side], probes: Sequence[ImageItem], indices: Sequence[int],
                  sizes: Mapping[str, tuple[int, int]], progress: Progress) -> list[dict[str, Any]]:
    """DetectFaces (DEFAULT attributes) of the sampled probes on every side; FaceDetails kept whole.

    `sizes` gives each probe's upright pixel size, needed to turn ratios into pixels.
    """
    records = []
    for n, index in enumerate(indices, start=1):
        item = probes[index]
        progress(f"DetectFaces {n}/{len(indices)} {item.relative}")
        image = _read(item.path)
        width, height = sizes[item.relative]
        record: dict[str, Any] = {"file": item.relative, "image_size": [width, height]}
        for side in sides:
            outcome = side.call("DetectFaces", Image={"Bytes": image})
            if outcome.response is None:
                entry = outcome.entry("no_face" if outcome.error_code == NO_FACE_ERROR else "error")
                entry["faces"] = []
            else:
                faces = list(outcome.response.get("FaceDetails") or [])
                entry = outcome.entry("ok" if faces else "no_face")
                entry["faces"] = faces
            record[side.key] = entry
        records.append(record)
    return records


def compare_target(index: int, probe_records: Sequence[Mapping[str, Any]], sides: Sequence[Side],
                   gallery: Mapping[str, ImageItem], probes: Sequence[ImageItem]) -> tuple[str, ImageItem]:
    """What a sampled probe is compared with: the first side's top-1 gallery image, else the
    other side's, else the next probe (wrapping). Both sides compare the very same pair."""
    record = probe_records[index]
    for side in sides:
        matches = record[side.key].get("matches") or []
        external_id = matches[0]["external_image_id"] if matches else None
        if isinstance(external_id, str) and external_id in gallery:
            return f"gallery_top1_{side.key}", gallery[external_id]
    return "next_probe", probes[(index + 1) % len(probes)]


def compare_sample(sides: Sequence[Side], probes: Sequence[ImageItem], indices: Sequence[int],
                   probe_records: Sequence[Mapping[str, Any]], gallery: Mapping[str, ImageItem],
                   progress: Progress) -> list[dict[str, Any]]:
    """CompareFaces (SimilarityThreshold 0, so a Similarity always comes back) of each sampled
    probe against its target (see `compare_target`) on every side."""
    records = []
    for n, index in enumerate(indices, start=1):
        item = probes[index]
        kind, target = compare_target(index, probe_records, sides, gallery, probes)
        progress(f"CompareFaces {n}/{len(indices)} {item.relative}")
        source_bytes, target_bytes = _read(item.path), _read(target.path)
        record: dict[str, Any] = {"file": item.relative, "target_kind": kind, "target_file": target.relative,
                                  "target_identity": target.identity, "identity": item.identity}
        for side in sides:
            outcome = side.call("CompareFaces", SourceImage={"Bytes": source_bytes},
                                TargetImage={"Bytes": target_bytes}, SimilarityThreshold=0)
            record[side.key] = _compare_entry(outcome)
        records.append(record)
    return records


def _compare_entry(outcome: Outcome) -> dict[str, Any]:
    if outcome.response is None:
        entry = outcome.entry("no_face" if outcome.error_code == NO_FACE_ERROR else "error")
        entry.update(similarity=None, face_matches=0, unmatched_faces=0, source_bounding_box=None)
        return entry
    similarities = [_number(m.get("Similarity")) for m in outcome.response.get("FaceMatches") or []]
    defined = [s for s in similarities if s is not None]
    entry = outcome.entry("ok")
    entry.update(similarity=max(defined) if defined else None, face_matches=len(similarities),
                 unmatched_faces=len(outcome.response.get("UnmatchedFaces") or []),
                 source_bounding_box=(outcome.response.get("SourceImageFace") or {}).get("BoundingBox"))
    return entry


def _number(value: Any) -> float | None:
    """A finite float from a response value, else None (keeps report.json valid JSON)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
