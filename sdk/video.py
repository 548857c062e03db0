"""Stored-video face jobs: start them, wait for them, page all their results, and read who is on screen when.

Rekognition Video is asynchronous: Start* returns a JobId, Get* answers IN_PROGRESS until the job ends
(SUCCEEDED or FAILED), then the results in pages linked by NextToken. botocore has no waiter and no
paginator for these operations, so `wait_for_job` polls and `all_results` follows the tokens. Both
take any client `connect()` returns, AWS or on-prem.

`person_timeline` turns GetFaceSearch's `Persons` (one item per person and sampled frame with a match)
into time ranges: who (ExternalImageId, else FaceId) was matched on which tracked person, from when to
when, with the best Similarity seen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .helpers import DEFAULT_THRESHOLD

FACE_SEARCH = "FaceSearch"
FACE_DETECTION = "FaceDetection"
# Get*'s result member per job kind.
RESULT_MEMBER = {FACE_SEARCH: "Persons", FACE_DETECTION: "Faces"}
IN_PROGRESS = "IN_PROGRESS"
DEFAULT_POLL_S = 2.0
MAX_PAGE = 1000  # Get*'s largest MaxResults
# rekog-compat samples 3 frames a second by default; used when a timeline's own timestamps cannot tell.
DEFAULT_SAMPLE_INTERVAL_MS = 1000.0 / 3
MERGE_FACTOR = 1.5  # matches closer than 1.5 sampling intervals are one continuous appearance
# Services sample several frames a second: a larger smallest gap means sparse matches, not a slow sampling.
MAX_INFERRED_INTERVAL_MS = 1000.0


class JobTimeout(TimeoutError):
    """The job was still IN_PROGRESS when `wait_for_job`'s timeout ran out."""


def job_kind(api: str) -> str:
    """`FaceSearch` or `FaceDetection` from any spelling of it: StartFaceSearch, get_face_search, face-search..."""
    squashed = api.replace("_", "").replace("-", "").lower()
    for prefix in ("start", "get"):
        if squashed.startswith(prefix):
            squashed = squashed[len(prefix):]
    for kind in RESULT_MEMBER:
        if squashed == kind.lower():
            return kind
    raise ValueError(f"not a stored-video face job: {api!r} (FaceSearch or FaceDetection)")


def _getter(client: Any, api: str) -> Any:
    return client.get_face_search if job_kind(api) == FACE_SEARCH else client.get_face_detection


def _video(bucket: str, name: str, version: str | None) -> dict[str, Any]:
    s3_object = {"Bucket": bucket, "Name": name}
    if version:
        s3_object["Version"] = version
    return {"S3Object": s3_object}


def _optional(
    notification_channel: Mapping[str, str] | None, job_tag: str | None, client_request_token: str | None
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if notification_channel:
        params["NotificationChannel"] = dict(notification_channel)
    if job_tag:
        params["JobTag"] = job_tag
    if client_request_token:
        params["ClientRequestToken"] = client_request_token
    return params


def start_face_search(
    client: Any,
    collection_id: str,
    bucket: str,
    name: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    version: str | None = None,
    notification_channel: Mapping[str, str] | None = None,
    job_tag: str | None = None,
    client_request_token: str | None = None,
) -> str:
    """StartFaceSearch of the video at s3://bucket/name against `collection_id`; returns the JobId.

    `threshold` is FaceMatchThreshold; `notification_channel` ({"SNSTopicArn", "RoleArn"}), `job_tag`
    and `client_request_token` are passed as the API takes them when given.
    """
    response = client.start_face_search(
        Video=_video(bucket, name, version),
        CollectionId=collection_id,
        FaceMatchThreshold=float(threshold),
        **_optional(notification_channel, job_tag, client_request_token),
    )
    return str(response["JobId"])


def start_face_detection(
    client: Any,
    bucket: str,
    name: str,
    *,
    face_attributes: str = "DEFAULT",
    version: str | None = None,
    notification_channel: Mapping[str, str] | None = None,
    job_tag: str | None = None,
    client_request_token: str | None = None,
) -> str:
    """StartFaceDetection of the video at s3://bucket/name (`face_attributes`: DEFAULT or ALL); returns the JobId."""
    response = client.start_face_detection(
        Video=_video(bucket, name, version),
        FaceAttributes=face_attributes,
        **_optional(notification_channel, job_tag, client_request_token),
    )
    return str(response["JobId"])


def wait_for_job(
    client: Any,
    api: str,
    job_id: str,
    progress: bool = True,
    poll_s: float = DEFAULT_POLL_S,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Poll Get* until the job is no longer IN_PROGRESS; returns that last answer (JobStatus, StatusMessage...).

    The answer is asked for with MaxResults=1, so it is small; page the results with `all_results`.
    Get* gives no progress figure, so the bar (tqdm, on stderr) shows the time elapsed and the polls
    made, and fills when the status changes. A FAILED job is returned, not raised: its StatusMessage
    says why. `timeout_s`: raise JobTimeout when the job runs longer.
    """
    if poll_s <= 0:
        raise ValueError(f"poll_s must be > 0, not {poll_s}")
    get = _getter(client, api)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=1, desc=f"{job_kind(api)} {job_id[:12]}", unit="job",
                   bar_format="{desc}: {bar} {elapsed} {postfix}")
    started = time.monotonic()
    polls = 0
    try:
        while True:
            response = dict(get(JobId=job_id, MaxResults=1))
            polls += 1
            status = str(response["JobStatus"])
            if bar is not None:
                bar.set_postfix_str(f"{status}, {polls} polls", refresh=False)
            if status != IN_PROGRESS:
                if bar is not None:
                    bar.update(1)
                response.pop("ResponseMetadata", None)
                return response
            if bar is not None:
                bar.refresh()
            if timeout_s is not None and time.monotonic() - started + poll_s > timeout_s:
                raise JobTimeout(f"job {job_id} still {IN_PROGRESS} after {time.monotonic() - started:.0f} s")
            time.sleep(poll_s)
    finally:
        if bar is not None:
            bar.close()


@dataclass
class VideoResults:
    """Every result of a finished job, in the service's order, with what Get* says about the job and video."""

    job_id: str
    job_status: str
    items: list[dict[str, Any]]  # Persons (face search) or Faces (face detection)
    video_metadata: dict[str, Any] = field(default_factory=dict)
    status_message: str | None = None
    pages: int = 0


def all_results(
    client: Any, api: str, job_id: str, sort_by: str | None = None, max_results: int = MAX_PAGE
) -> VideoResults:
    """Page every result of job `job_id` with NextToken (botocore has no paginator for Get*).

    `sort_by`: Get*'s SortBy (FaceSearch: INDEX or TIMESTAMP; FaceDetection takes none). `max_results`
    is the page size asked for. A job still in progress or FAILED gives no items; its status says so.
    A token the service hands back twice is an error (a loop), not followed forever.
    """
    get = _getter(client, api)
    kind = job_kind(api)
    params: dict[str, Any] = {"JobId": job_id, "MaxResults": max_results}
    if sort_by:
        if kind != FACE_SEARCH:
            raise ValueError("SortBy is GetFaceSearch's: GetFaceDetection has none")
        params["SortBy"] = sort_by
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    pages = 0
    while True:
        response = get(**params)
        pages += 1
        items.extend(response.get(RESULT_MEMBER[kind], []))
        token = response.get("NextToken")
        if not token:
            return VideoResults(
                job_id=job_id,
                job_status=str(response["JobStatus"]),
                items=items,
                video_metadata=dict(response.get("VideoMetadata") or {}),
                status_message=response.get("StatusMessage"),
                pages=pages,
            )
        if token in seen:
            raise RuntimeError(f"Get{kind} returned NextToken {token[:16]}... twice: not following a loop")
        seen.add(token)
        params["NextToken"] = token


@dataclass
class Appearance:
    """One tracked person matched with one collection identity: when (ms ranges) and how closely."""

    person_index: int
    who: str  # ExternalImageId, else FaceId
    ranges: list[tuple[int, int]]  # (first, last) matched timestamp, ms from the start of the video
    best_similarity: float
    matched_frames: int
    face_ids: list[str] = field(default_factory=list)

    @property
    def first_ms(self) -> int:
        return self.ranges[0][0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, ranges as {"FromMillis", "ToMillis"}."""
        return {
            "PersonIndex": self.person_index,
            "Who": self.who,
            "Ranges": [{"FromMillis": a, "ToMillis": b} for a, b in self.ranges],
            "BestSimilarity": self.best_similarity,
            "MatchedFrames": self.matched_frames,
            "FaceIds": self.face_ids,
        }


def sample_interval_ms(timestamps: Iterable[int]) -> float:
    """The sampling interval the timestamps show: the smallest gap between two distinct ones.

    Two sampled frames cannot be closer than the interval, and a person on screen for a while gives
    consecutive samples, so the smallest gap is the interval. With fewer than two distinct
    timestamps there is nothing to read it from: rekog-compat's default (1/3 s). A smallest gap over
    a second says the matches are sparse rather than the sampling slow: it is capped at 1 s.
    """
    distinct = sorted(set(timestamps))
    gaps = [b - a for a, b in zip(distinct, distinct[1:], strict=False) if b > a]
    return min(float(min(gaps)), MAX_INFERRED_INTERVAL_MS) if gaps else DEFAULT_SAMPLE_INTERVAL_MS


def _merge(timestamps: list[int], gap_ms: float) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for at in timestamps:
        if ranges and at - ranges[-1][1] <= gap_ms:
            ranges[-1] = (ranges[-1][0], at)
        else:
            ranges.append((at, at))
    return ranges


def person_timeline(
    persons: Iterable[Mapping[str, Any]], merge_gap_ms: float | None = None, sample_interval: float | None = None
) -> list[Appearance]:
    """Who was matched on which tracked person, when: GetFaceSearch's Persons as time ranges.

    One Appearance per (Person.Index, identity), the identity being the matched face's ExternalImageId,
    or its FaceId when it has none (several faces of one ExternalImageId are one identity). Matched
    timestamps closer than `merge_gap_ms` join one range; by default 1.5 sampling intervals (so that
    the jitter of sampled frame times never splits a range), the interval being `sample_interval` (ms)
    when the caller knows it (e.g. 1000 / the server's --video-sample-rate), else read from the
    timestamps themselves (`sample_interval_ms`). Persons without FaceMatches are skipped. Sorted by first
    appearance, then person index, then identity.
    """
    persons = list(persons)
    if merge_gap_ms is None:
        if sample_interval is None:
            sample_interval = sample_interval_ms(int(p["Timestamp"]) for p in persons)
        merge_gap_ms = MERGE_FACTOR * sample_interval
    times: dict[tuple[int, str], set[int]] = {}
    best: dict[tuple[int, str], float] = {}
    face_ids: dict[tuple[int, str], set[str]] = {}
    for item in persons:
        index = int(item["Person"]["Index"])
        at = int(item["Timestamp"])
        for match in item.get("FaceMatches") or []:
            face = match.get("Face", {})
            who = str(face.get("ExternalImageId") or face.get("FaceId") or "?")
            key = (index, who)
            times.setdefault(key, set()).add(at)
            best[key] = max(best.get(key, 0.0), float(match.get("Similarity", 0.0)))
            if face.get("FaceId"):
                face_ids.setdefault(key, set()).add(str(face["FaceId"]))
    timeline = [
        Appearance(
            person_index=index,
            who=who,
            ranges=_merge(sorted(stamps), merge_gap_ms),
            best_similarity=best[(index, who)],
            matched_frames=len(stamps),
            face_ids=sorted(face_ids.get((index, who), set())),
        )
        for (index, who), stamps in times.items()
    ]
    return sorted(timeline, key=lambda a: (a.first_ms, a.person_index, a.who))


def format_timeline(timeline: Iterable[Appearance]) -> str:
    """The timeline as a text table: person index, who, from-to in seconds, best similarity; one row per range."""
    rows = [("person", "who", "from (s)", "to (s)", "best similarity")]
    for appearance in timeline:
        for start, end in appearance.ranges:
            rows.append((str(appearance.person_index), appearance.who, f"{start / 1000:.1f}", f"{end / 1000:.1f}",
                         f"{appearance.best_similarity:.1f}"))
    if len(rows) == 1:
        return "no one in the collection was matched"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def faces_per_second(faces: Iterable[Mapping[str, Any]]) -> list[dict[str, int]]:
    """GetFaceDetection's Faces counted per second of video: detections, sampled frames with a face, most in one."""
    by_second: dict[int, dict[int, int]] = {}
    for item in faces:
        at = int(item["Timestamp"])
        frames = by_second.setdefault(at // 1000, {})
        frames[at] = frames.get(at, 0) + 1
    return [
        {"Second": second, "Faces": sum(frames.values()), "FramesWithFaces": len(frames),
         "MostInOneFrame": max(frames.values())}
        for second, frames in sorted(by_second.items())
    ]


def upload_video(s3: Any, path: str, bucket: str, key: str) -> None:
    """Put a local video at s3://bucket/key (a multipart upload when large), for Start* to read it there."""
    s3.upload_file(str(path), bucket, key)
