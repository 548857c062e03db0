"""A stream processor's output: the face-search record AWS documents, put on a Kinesis Data Stream with boto3.

The record (AWS's "Kinesis face recognition record"): InputInformation.KinesisVideo (StreamArn,
FragmentNumber, ServerTimestamp, ProducerTimestamp, FrameOffsetInSeconds), StreamProcessorInformation
(Status), FaceSearchResponse (each face's DetectedFace and MatchedFaces). With no Kinesis Video stream
there are no fragments: FragmentNumber is the second of stream time the frame lies in, and both
timestamps are the moment the frame was seen (for a file played in real time, when it was due).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws_clients import RegionalClients
from ..store import StoredFace
from ..store.stream_processors import RUNNING, StreamProcessor
from .sources import LiveFrame

log = logging.getLogger("rekog_compat.stream")


def matched_face(face: StoredFace) -> dict[str, Any]:
    """A MatchedFaces entry's Face, with the members AWS's record documents."""
    left, top, width, height = face.bounding_box
    document: dict[str, Any] = {
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "FaceId": face.face_id, "Confidence": face.confidence, "ImageId": face.image_id,
    }
    if face.external_image_id is not None:
        document["ExternalImageId"] = face.external_image_id
    return document


def face_search_record(
    processor: StreamProcessor, frame: LiveFrame, results: list[tuple[dict[str, Any], list[tuple[StoredFace, float]]]]
) -> dict[str, Any]:
    """The record of one frame: each detected face and the collection's faces that match it."""
    return {
        "InputInformation": {"KinesisVideo": {
            "StreamArn": processor.definition["Input"]["KinesisVideoStream"]["Arn"],
            "FragmentNumber": str(int(frame.offset_s)),
            "ServerTimestamp": round(frame.wall_time, 3),
            "ProducerTimestamp": round(frame.wall_time, 3),
            "FrameOffsetInSeconds": round(frame.offset_s, 3),
        }},
        "StreamProcessorInformation": {"Status": RUNNING},
        "FaceSearchResponse": [
            {"DetectedFace": detected,
             "MatchedFaces": [{"Similarity": similarity, "Face": matched_face(face)} for face, similarity in matches]}
            for detected, matches in results
        ],
    }


class KinesisWriter:
    """put_record to the stream an ARN names, at `endpoint_url` (AWS when None), in the stream's region."""

    def __init__(self, endpoint_url: str | None) -> None:
        self._kinesis = RegionalClients("kinesis", endpoint_url)

    def put(self, stream_arn: str, record: dict[str, Any], partition_key: str) -> None:
        """Put one record; a refusal or an unreachable endpoint is logged (the next frame tries again)."""
        name = stream_arn.split(":stream/", 1)[-1]
        try:
            self._kinesis.for_arn(stream_arn).put_record(
                StreamName=name, Data=json.dumps(record).encode(), PartitionKey=partition_key
            )
        except (BotoCoreError, ClientError) as exc:
            log.error("the record for %s was not written: %s", stream_arn, exc)
