"""Stream processors' output: read the face-search records a processor puts on a Kinesis Data Stream.

A stream processor (CreateStreamProcessor with Settings.FaceSearch) writes one record per analysed
frame with a face to the Kinesis Data Stream of its Output, in AWS's "Kinesis face recognition record"
layout: InputInformation.KinesisVideo (StreamArn, FragmentNumber, ServerTimestamp, ProducerTimestamp,
FrameOffsetInSeconds), StreamProcessorInformation, FaceSearchResponse (per detected face its
DetectedFace and MatchedFaces). The same code reads AWS's records and a rekog-compat server's.

`read_face_search_records` follows every shard (get_shard_iterator, then get_records with a short
sleep when nothing came) and yields each decoded record with the time Kinesis received it, so a
caller can measure latency (arrival - ProducerTimestamp). `matches_in` flattens one record into who
was matched where, with which Similarity.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

DEFAULT_POLL_S = 0.5
# get_records is limited to 5 calls a second per shard on AWS: a throttled call waits this long.
THROTTLED_WAIT_S = 1.0
Stop = Callable[[], bool] | threading.Event


@dataclass(frozen=True)
class ArrivedRecord:
    """One decoded face-search record, where it was read and when Kinesis received it."""

    record: dict[str, Any]
    arrival: datetime  # the record's ApproximateArrivalTimestamp
    shard_id: str
    sequence_number: str

    @property
    def latency_s(self) -> float | None:
        """Seconds from the frame (ProducerTimestamp) to its arrival on the stream; None without a timestamp."""
        produced = frame_time(self.record)
        return None if produced is None else self.arrival.timestamp() - produced


class Match(NamedTuple):
    """One matched collection face on one detected face of a frame."""

    who: str  # the matched face's ExternalImageId, else its FaceId
    similarity: float
    bounding_box: dict[str, float]  # where the detected face is in the frame (ratios of its width and height)
    frame_time: float | None  # ProducerTimestamp: when the frame was produced, epoch seconds


def stream_name(stream_name_or_arn: str) -> str:
    """The stream's name, from its name or its ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)."""
    if stream_name_or_arn.startswith("arn:"):
        if ":stream/" not in stream_name_or_arn:
            raise ValueError(f"not a Kinesis Data Stream ARN: {stream_name_or_arn}")
        return stream_name_or_arn.split(":stream/", 1)[1]
    return stream_name_or_arn


def frame_time(record: Mapping[str, Any]) -> float | None:
    """The record's ProducerTimestamp (epoch seconds), None when it has none."""
    value = record.get("InputInformation", {}).get("KinesisVideo", {}).get("ProducerTimestamp")
    return None if value is None else float(value)


def frame_offset(record: Mapping[str, Any]) -> float | None:
    """The record's FrameOffsetInSeconds (from the start of the stream), None when it has none."""
    value = record.get("InputInformation", {}).get("KinesisVideo", {}).get("FrameOffsetInSeconds")
    return None if value is None else float(value)


def matches_in(record: Mapping[str, Any]) -> list[Match]:
    """Every (detected face, matched face) pair of one record, in the record's order.

    `who` is the matched face's ExternalImageId, else its FaceId; `bounding_box` is the *detected*
    face's box in the frame (the matched face's own box is that of the indexed image, which says
    nothing about the frame). Detected faces without matches give nothing.
    """
    at = frame_time(record)
    found: list[Match] = []
    for result in record.get("FaceSearchResponse") or []:
        box = dict((result.get("DetectedFace") or {}).get("BoundingBox") or {})
        for matched in result.get("MatchedFaces") or []:
            face = matched.get("Face") or {}
            who = str(face.get("ExternalImageId") or face.get("FaceId") or "?")
            found.append(Match(who, float(matched.get("Similarity", 0.0)), box, at))
    return found


def _stopped(stop: Stop | None) -> bool:
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


def _pause(stop: Stop | None, seconds: float) -> None:
    if isinstance(stop, threading.Event):
        stop.wait(seconds)
    else:
        time.sleep(seconds)


def _shard_ids(kinesis: Any, name: str) -> list[str]:
    shards: list[str] = []
    params: dict[str, Any] = {"StreamName": name}
    while True:
        page = kinesis.list_shards(**params)
        shards += [str(s["ShardId"]) for s in page.get("Shards", [])]
        token = page.get("NextToken")
        if not token:
            return shards
        params = {"NextToken": token}


def read_face_search_records(
    kinesis_client: Any,
    stream_name_or_arn: str,
    from_start: bool = False,
    stop: Stop | None = None,
    *,
    poll_s: float = DEFAULT_POLL_S,
    follow: bool = True,
) -> Iterator[ArrivedRecord]:
    """Every record of every shard of the stream, decoded, as it arrives.

    `from_start`: from the oldest record kept (TRIM_HORIZON), else only those put from now on (LATEST).
    The shard iterators are taken when this is *called*, not at the first `next()`: a caller can take
    the reader, then start the processor, and miss nothing. `stop` (a callable or an Event) is checked
    after each round of get_records over the shards; when a round brings nothing the reader sleeps
    `poll_s` (an Event wakes it early). `follow=False` ends once every shard is caught up (an empty
    answer with MillisBehindLatest 0): for reading what a stream holds. A closed shard (no
    NextShardIterator) is dropped; an expired iterator is renewed after the last record read, a
    throttled call waits and retries. Records that are not JSON are skipped.
    """
    if poll_s <= 0:
        raise ValueError(f"poll_s must be > 0, not {poll_s}")
    name = stream_name(stream_name_or_arn)
    start = "TRIM_HORIZON" if from_start else "LATEST"
    iterators: dict[str, str] = {}
    for shard in _shard_ids(kinesis_client, name):
        iterators[shard] = str(kinesis_client.get_shard_iterator(
            StreamName=name, ShardId=shard, ShardIteratorType=start)["ShardIterator"])
    return _follow(kinesis_client, name, iterators, start, stop, poll_s, follow)


def _follow(
    kinesis: Any, name: str, iterators: dict[str, str], start: str, stop: Stop | None, poll_s: float,
    follow: bool,
) -> Iterator[ArrivedRecord]:
    errors = kinesis.exceptions
    last_sequence: dict[str, str] = {}
    while iterators and not _stopped(stop):
        got_any = False
        caught_up = True
        for shard in list(iterators):
            try:
                answer = kinesis.get_records(ShardIterator=iterators[shard])
            except errors.ExpiredIteratorException:
                after = last_sequence.get(shard)
                params = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
                          if after else {"ShardIteratorType": start})
                iterators[shard] = str(kinesis.get_shard_iterator(StreamName=name, ShardId=shard, **params)[
                    "ShardIterator"])
                caught_up = False
                continue
            except errors.ProvisionedThroughputExceededException:
                _pause(stop, THROTTLED_WAIT_S)
                caught_up = False
                continue
            for item in answer.get("Records", []):
                got_any = True
                last_sequence[shard] = str(item["SequenceNumber"])
                try:
                    record = json.loads(item["Data"])
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield ArrivedRecord(record, item["ApproximateArrivalTimestamp"], shard, str(item["SequenceNumber"]))
            if answer.get("Records") or answer.get("MillisBehindLatest", 0):
                caught_up = False
            following = answer.get("NextShardIterator")
            if following:
                iterators[shard] = str(following)
            else:
                del iterators[shard]
        if not follow and caught_up:
            return
        if not got_any and not _stopped(stop):
            _pause(stop, poll_s)


# ---- the stream and the processor ----------------------------------------------------------------------------------

ACTIVE = "ACTIVE"
DEFAULT_WAIT_S = 30.0


def ensure_data_stream(kinesis_client: Any, name: str, timeout_s: float = DEFAULT_WAIT_S) -> tuple[str, bool]:
    """The ARN of Kinesis Data Stream `name`, created (one shard) when missing; and whether it was created.

    Waits for the stream to be ACTIVE (botocore's waiter polls every 10 s; this polls every 0.2 s).
    """
    created = False
    try:
        kinesis_client.describe_stream_summary(StreamName=name)
    except kinesis_client.exceptions.ResourceNotFoundException:
        kinesis_client.create_stream(StreamName=name, ShardCount=1)
        created = True
    deadline = time.monotonic() + timeout_s
    while True:
        summary = kinesis_client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == ACTIVE:
            return str(summary["StreamARN"]), created
        if time.monotonic() > deadline:
            raise TimeoutError(f"Kinesis stream {name} still {summary['StreamStatus']} after {timeout_s:g} s")
        time.sleep(0.2)


def wait_for_processor(
    client: Any, name: str, statuses: set[str] | frozenset[str], timeout_s: float = DEFAULT_WAIT_S,
    poll_s: float = 0.25,
) -> dict[str, Any]:
    """DescribeStreamProcessor until its Status is one of `statuses` (or the timeout); that last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = dict(client.describe_stream_processor(Name=name))
        described.pop("ResponseMetadata", None)
        if described["Status"] in statuses or time.monotonic() > deadline:
            return described
        time.sleep(poll_s)
