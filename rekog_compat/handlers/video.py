"""StartFaceDetection, GetFaceDetection, StartFaceSearch, GetFaceSearch: faces in a stored video.

Start* checks what it can at once (the S3 object is there and at most 10 GB, the collection exists and
holds this model's vectors, the account has fewer than 20 jobs in progress), queues the job in the
store and returns its JobId; the video runners (video/runner.py) do the rest. Get* answers from the
store: the job's state and, once it SUCCEEDED, its results in pages.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..context import RequestContext
from ..errors import (
    IdempotentParameterMismatchException,
    InvalidParameterException,
    LimitExceededException,
    ResourceNotFoundException,
    VideoTooLargeException,
)
from ..pagination import decode_token, encode_token
from ..store.video_jobs import SUCCEEDED, JobTokenReused, TooManyJobs, VideoJob
from ..video.container import MAX_VIDEO_BYTES
from .common import searchable_collection
from .idempotency import fingerprint
from .registry import operation
from .request_types import (
    GetFaceDetectionRequest,
    GetFaceSearchRequest,
    StartFaceDetectionRequest,
    StartFaceSearchRequest,
)

MAX_JOBS_IN_PROGRESS = 20  # AWS's default quota of concurrent stored-video jobs per account
MAX_RESULTS = 1000  # Get*'s MaxResults: the default and the most a page holds
DEFAULT_FACE_MATCH_THRESHOLD = 80.0


def _start(ctx: RequestContext, api: str, params: Any, job_request: dict[str, Any]) -> dict[str, Any]:
    """Check the video, queue the job (or find the one this ClientRequestToken started) and wake a runner."""
    s3_object = params["Video"].get("S3Object")
    if not s3_object or not s3_object.get("Bucket") or not s3_object.get("Name"):
        raise InvalidParameterException("Video.S3Object with Bucket and Name is required.")
    if ctx.services.s3.size(s3_object["Bucket"], s3_object["Name"], s3_object.get("Version")) > MAX_VIDEO_BYTES:
        raise VideoTooLargeException()
    for member in ("NotificationChannel", "JobTag"):
        if member in params:
            job_request[member] = params[member]
    job_request["Video"] = {"S3Object": dict(s3_object)}
    job = VideoJob(job_id=secrets.token_hex(32), scope=ctx.scope, api=api, request=job_request)
    try:
        job_id = ctx.store.video_jobs.create(
            job, params.get("ClientRequestToken"), fingerprint(params), MAX_JOBS_IN_PROGRESS
        )
    except JobTokenReused:
        raise IdempotentParameterMismatchException() from None
    except TooManyJobs:
        raise LimitExceededException(
            f"At most {MAX_JOBS_IN_PROGRESS} video jobs can be in progress at once in an account."
        ) from None
    if ctx.services.video is not None:
        ctx.services.video.wake()
    ctx.notes["job_id"] = job_id
    return {"JobId": job_id}


@operation("StartFaceDetection")
def start_face_detection(ctx: RequestContext, params: StartFaceDetectionRequest) -> dict[str, Any]:
    return _start(ctx, "StartFaceDetection", params, {"FaceAttributes": params.get("FaceAttributes", "DEFAULT")})


@operation("StartFaceSearch")
def start_face_search(ctx: RequestContext, params: StartFaceSearchRequest) -> dict[str, Any]:
    collection = searchable_collection(ctx, params["CollectionId"])
    threshold = ctx.threshold(params, "FaceMatchThreshold", DEFAULT_FACE_MATCH_THRESHOLD)
    return _start(ctx, "StartFaceSearch", params,
                  {"CollectionId": collection.collection_id, "FaceMatchThreshold": threshold})


def _get(
    ctx: RequestContext, api: str, params: Any, results: str, by_person: bool = False
) -> dict[str, Any]:
    """The job's state, metadata and one page of its results (`results`: the response member)."""
    job = ctx.store.video_jobs.get(ctx.scope, params["JobId"])
    if job is None or job.api != api:
        raise ResourceNotFoundException(f"The job id: {params['JobId']} does not exist")
    response: dict[str, Any] = {"JobStatus": job.status}
    if job.status_message:
        response["StatusMessage"] = job.status_message
    if job.video_metadata:
        response["VideoMetadata"] = job.video_metadata
    if job.status == SUCCEEDED:
        listing = f"{api}:{ctx.scope.account}:{ctx.scope.region}:{job.job_id}:{'INDEX' if by_person else 'TIMESTAMP'}"
        secret = ctx.store.secret()
        offset = decode_token(secret, listing, params["NextToken"]) if params.get("NextToken") else 0
        limit = ctx.limit(params, "MaxResults", MAX_RESULTS, cap=MAX_RESULTS)
        page, more = ctx.store.video_jobs.items(job.job_id, by_person, offset, limit)
        response[results] = page
        if more:
            response["NextToken"] = encode_token(secret, listing, offset + len(page))
    else:
        response[results] = []
    response["JobId"] = job.job_id
    response["Video"] = job.request["Video"]
    if "JobTag" in job.request:
        response["JobTag"] = job.request["JobTag"]
    return response


@operation("GetFaceDetection")
def get_face_detection(ctx: RequestContext, params: GetFaceDetectionRequest) -> dict[str, Any]:
    return _get(ctx, "StartFaceDetection", params, "Faces")


@operation("GetFaceSearch")
def get_face_search(ctx: RequestContext, params: GetFaceSearchRequest) -> dict[str, Any]:
    return _get(ctx, "StartFaceSearch", params, "Persons", by_person=params.get("SortBy") == "INDEX")
