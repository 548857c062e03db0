"""CreateStreamProcessor ... DeleteStreamProcessor: face-search stream processors, with AWS's states and errors.

The handlers keep the processor's definition and state in the store; each server process's supervisor
(stream/supervisor.py) runs the processors that should run. Only face search is served: ConnectedHome
(label detection) settings and RegionsOfInterest (label analysis only, per AWS) are refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from ..arns import stream_processor_arn
from ..context import RequestContext
from ..errors import (
    InvalidParameterException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from ..pagination import decode_token, encode_token
from ..store.stream_processors import (
    FAILED,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    ProcessorBusy,
    ProcessorExists,
    ProcessorMissing,
    StreamProcessor,
    TooManyProcessors,
)
from ..stream.worker import MIN_FACE_MATCH_THRESHOLD
from .common import searchable_collection
from .registry import operation
from .request_types import (
    CreateStreamProcessorRequest,
    DeleteStreamProcessorRequest,
    DescribeStreamProcessorRequest,
    ListStreamProcessorsRequest,
    StartStreamProcessorRequest,
    StopStreamProcessorRequest,
    UpdateStreamProcessorRequest,
)

MAX_PROCESSORS = 20  # per account and region (this server's limit)
MAX_LIST_RESULTS = 1000
_OPTIONAL = ("NotificationChannel", "KmsKeyId", "DataSharingPreference")


def _missing(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The stream processor {name} does not exist")


def _definition(ctx: RequestContext, params: CreateStreamProcessorRequest) -> dict[str, Any]:
    if not params["Input"].get("KinesisVideoStream", {}).get("Arn"):
        raise InvalidParameterException("Input.KinesisVideoStream.Arn is required.")
    if not params["Output"].get("KinesisDataStream", {}).get("Arn"):
        raise InvalidParameterException("A face search stream processor needs Output.KinesisDataStream.Arn.")
    settings = params["Settings"]
    if "ConnectedHome" in settings or "FaceSearch" not in settings:
        raise InvalidParameterException("Only Settings.FaceSearch is supported (no ConnectedHome label detection).")
    if params.get("RegionsOfInterest"):
        raise InvalidParameterException("RegionsOfInterest applies to label detection, not to face search.")
    face_search: dict[str, Any] = dict(settings["FaceSearch"])
    if "CollectionId" not in face_search:
        raise InvalidParameterException("Settings.FaceSearch.CollectionId is required.")
    try:
        searchable_collection(ctx, face_search["CollectionId"])
    except ResourceNotFoundException as exc:
        raise InvalidParameterException(exc.message) from None
    if "FaceMatchThreshold" in face_search:
        face_search["FaceMatchThreshold"] = max(float(face_search["FaceMatchThreshold"]), MIN_FACE_MATCH_THRESHOLD)
    definition: dict[str, Any] = {
        "Input": params["Input"], "Output": params["Output"], "RoleArn": params["RoleArn"],
        "Settings": {"FaceSearch": face_search},
    }
    definition.update({k: params[k] for k in _OPTIONAL if k in params})  # type: ignore[literal-required]
    return definition


@operation("CreateStreamProcessor")
def create_stream_processor(ctx: RequestContext, params: CreateStreamProcessorRequest) -> dict[str, Any]:
    name = params["Name"]
    arn = stream_processor_arn(ctx.scope, name)
    processor = StreamProcessor(ctx.scope, name, arn, _definition(ctx, params), dict(params.get("Tags", {})))
    try:
        ctx.store.stream_processors.create(processor, MAX_PROCESSORS)
    except ProcessorExists:
        raise ResourceInUseException(f"The stream processor {name} already exists") from None
    except TooManyProcessors:
        raise LimitExceededException(f"An account can have at most {MAX_PROCESSORS} stream processors.") from None
    return {"StreamProcessorArn": arn}


def _get(ctx: RequestContext, name: str) -> StreamProcessor:
    processor = ctx.store.stream_processors.get(ctx.scope, name)
    if processor is None:
        raise _missing(name)
    return processor


@operation("DescribeStreamProcessor")
def describe_stream_processor(ctx: RequestContext, params: DescribeStreamProcessorRequest) -> dict[str, Any]:
    p = _get(ctx, params["Name"])
    response: dict[str, Any] = {"Name": p.name, "StreamProcessorArn": p.arn, "Status": p.status}
    if p.status_message:
        response["StatusMessage"] = p.status_message
    response["CreationTimestamp"] = p.created_at
    response["LastUpdateTimestamp"] = p.updated_at
    response.update(p.definition)
    return response


@operation("ListStreamProcessors")
def list_stream_processors(ctx: RequestContext, params: ListStreamProcessorsRequest) -> dict[str, Any]:
    listing = f"ListStreamProcessors:{ctx.scope.account}:{ctx.scope.region}"
    secret = ctx.store.secret()
    offset = decode_token(secret, listing, params["NextToken"]) if params.get("NextToken") else 0
    limit = ctx.limit(params, "MaxResults", MAX_LIST_RESULTS, cap=MAX_LIST_RESULTS)
    page, more = ctx.store.stream_processors.page(ctx.scope, offset, limit)
    response: dict[str, Any] = {"StreamProcessors": [{"Name": p.name, "Status": p.status} for p in page]}
    if more:
        response["NextToken"] = encode_token(secret, listing, offset + len(page))
    return response


def _change(ctx: RequestContext, name: str, change: Callable[[StreamProcessor], dict[str, Any]]) -> StreamProcessor:
    try:
        return ctx.store.stream_processors.change(ctx.scope, name, change)
    except ProcessorMissing:
        raise _missing(name) from None
    except ProcessorBusy as exc:
        raise ResourceInUseException(str(exc)) from None


@operation("StartStreamProcessor")
def start_stream_processor(ctx: RequestContext, params: StartStreamProcessorRequest) -> dict[str, Any]:
    session_id = str(uuid.uuid4())
    selectors = {k: params[k] for k in ("StartSelector", "StopSelector") if k in params}

    def start(p: StreamProcessor) -> dict[str, Any]:
        if p.status not in (STOPPED, FAILED):
            raise ProcessorBusy(f"The stream processor {p.name} is {p.status}.")
        return {"status": STARTING, "status_message": None, "desired": RUNNING, "session_id": session_id,
                "start_request": selectors}

    _change(ctx, params["Name"], start)
    if ctx.services.streams is not None:
        ctx.services.streams.wake()
    return {"SessionId": session_id}


@operation("StopStreamProcessor")
def stop_stream_processor(ctx: RequestContext, params: StopStreamProcessorRequest) -> dict[str, Any]:
    def stop(p: StreamProcessor) -> dict[str, Any]:
        if p.desired != RUNNING:
            raise ProcessorBusy(f"The stream processor {p.name} is {p.status}, not running.")
        return {"status": STOPPING, "desired": STOPPED}

    _change(ctx, params["Name"], stop)
    return {}


@operation("UpdateStreamProcessor")
def update_stream_processor(ctx: RequestContext, params: UpdateStreamProcessorRequest) -> dict[str, Any]:
    if params.get("SettingsForUpdate", {}).get("ConnectedHomeForUpdate"):
        raise InvalidParameterException("ConnectedHome settings apply to label detection, not to face search.")
    if params.get("RegionsOfInterestForUpdate"):
        raise InvalidParameterException("RegionsOfInterest applies to label detection, not to face search.")

    def update(p: StreamProcessor) -> dict[str, Any]:
        if p.status not in (STOPPED, FAILED) or p.desired == RUNNING:
            raise ProcessorBusy(f"The stream processor {p.name} is {p.status}: stop it before updating it.")
        definition = dict(p.definition)
        if "DataSharingPreferenceForUpdate" in params:
            definition["DataSharingPreference"] = params["DataSharingPreferenceForUpdate"]
        for parameter in params.get("ParametersToDelete", []):
            definition.pop(parameter, None)  # RegionsOfInterest; ConnectedHomeMinConfidence is not kept
        return {"definition": definition}

    _change(ctx, params["Name"], update)
    return {}


@operation("DeleteStreamProcessor")
def delete_stream_processor(ctx: RequestContext, params: DeleteStreamProcessorRequest) -> dict[str, Any]:
    try:
        ctx.store.stream_processors.delete(ctx.scope, params["Name"], busy=(STARTING, RUNNING, STOPPING))
    except ProcessorMissing:
        raise _missing(params["Name"]) from None
    except ProcessorBusy as exc:
        raise ResourceInUseException(str(exc)) from None
    return {}
