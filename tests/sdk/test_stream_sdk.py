"""rekog_sdk.streams and `rekog-compat watch`, against one moto (Kinesis) and one live server for the module.

The server maps the Kinesis Video stream ARN STAGE to the shared clip (a file played in real time, again
each time it ends) with --video-sources; the two performers' stills are indexed once (ExternalImageId =
file stem). Lin-Manuel Miranda is on screen from about 3 s of the clip, Alex Lacamoire at its start.
`matches_in` is also checked on a hand-made record.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from rekog_sdk import streams

from harness.live_server import LiveServer
from tests.support.facedata import facedata_dir
from tests.support.s3 import FAKE_AWS_ENV, moto_with_fake_credentials

ACCOUNT = "123456789012"
LIN, ALEX = "lin-manuel-miranda", "alex-lacamoire"
COLLECTION = "performers"
STAGE = f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/stage/1700000000000"
UNMAPPED = f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/unmapped/1700000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AmazonRekognitionServiceRole"


# -- matches_in on a hand-made record --------------------------------------------------------------------------------


def record(*faces: tuple[dict[str, float], list[tuple[str | None, str, float]]]) -> dict[str, Any]:
    """A face-search record: per detected face its box and (ExternalImageId or None, FaceId, Similarity) matches."""
    return {
        "InputInformation": {"KinesisVideo": {
            "StreamArn": STAGE, "FragmentNumber": "3", "ServerTimestamp": 1700000003.5,
            "ProducerTimestamp": 1700000003.25, "FrameOffsetInSeconds": 3.25}},
        "StreamProcessorInformation": {"Status": "RUNNING"},
        "FaceSearchResponse": [
            {"DetectedFace": {"BoundingBox": box, "Confidence": 99.9},
             "MatchedFaces": [{"Similarity": s, "Face": {"BoundingBox": {"Width": 1.0, "Height": 1.0, "Left": 0.0,
                                                                          "Top": 0.0},
                                                         "FaceId": f, "ImageId": "i", "Confidence": 99.0,
                                                         **({"ExternalImageId": x} if x else {})}}
                              for x, f, s in matches]}
            for box, matches in faces
        ],
    }


def test_matches_in_flattens_every_detected_and_matched_face() -> None:
    left = {"Width": 0.2, "Height": 0.3, "Left": 0.1, "Top": 0.05}
    right = {"Width": 0.1, "Height": 0.15, "Left": 0.7, "Top": 0.2}
    nobody = {"Width": 0.1, "Height": 0.1, "Left": 0.4, "Top": 0.4}
    made = record((left, [("ann", "f1", 97.5), (None, "f2", 88.0)]), (nobody, []), (right, [("bob", "f3", 91.0)]))
    assert streams.matches_in(made) == [
        ("ann", 97.5, left, 1700000003.25),
        ("f2", 88.0, left, 1700000003.25),  # no ExternalImageId: the FaceId names it
        ("bob", 91.0, right, 1700000003.25),  # the detected face's box, not the indexed one's
    ]
    assert streams.matches_in(made)[0].who == "ann"
    assert streams.frame_offset(made) == 3.25
    assert streams.matches_in({"FaceSearchResponse": []}) == []
    assert streams.matches_in({}) == []
    assert streams.frame_time({}) is None


def test_arrived_record_latency_and_stream_names() -> None:
    arrival = datetime.fromtimestamp(1700000004.0, tz=UTC)
    arrived = streams.ArrivedRecord(record(), arrival, "shardId-000000000000", "1")
    assert arrived.latency_s == pytest.approx(0.75)
    assert streams.ArrivedRecord({}, arrival, "s", "1").latency_s is None
    assert streams.stream_name("faces") == "faces"
    assert streams.stream_name(f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/door/faces") == "door/faces"
    with pytest.raises(ValueError):
        streams.stream_name("arn:aws:kinesis:us-east-1:1:nothing")


# -- against a live server -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_with_fake_credentials() as url:
        yield url


@pytest.fixture(scope="module")
def live(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("stream-sdk")
    clip = facedata_dir() / "video" / "short_hamilton_clip.mp4"
    (folder / "sources.json").write_text(json.dumps({STAGE: str(clip)}))
    server = LiveServer(folder / "data", "--kinesis-endpoint-url", moto, "--video-sources",
                        str(folder / "sources.json"), env=FAKE_AWS_ENV).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rekognition(live: LiveServer) -> Any:
    client = boto3.client("rekognition", endpoint_url=live.url, region_name="us-east-1")
    client.create_collection(CollectionId=COLLECTION)
    for name in (LIN, ALEX):
        still = {"Bytes": (facedata_dir() / "video" / f"{name}.png").read_bytes()}
        assert client.index_faces(CollectionId=COLLECTION, Image=still, ExternalImageId=name,
                                  MaxFaces=1)["FaceRecords"]
    return client


@pytest.fixture(scope="module")
def kinesis(moto: str) -> Any:
    return boto3.client("kinesis", endpoint_url=moto, region_name="us-east-1")


def test_reader_follows_a_live_processor_and_finds_both_performers(rekognition: Any, kinesis: Any) -> None:
    arn, created = streams.ensure_data_stream(kinesis, "reader-faces")
    assert created and arn.endswith(":stream/reader-faces")
    assert streams.ensure_data_stream(kinesis, "reader-faces") == (arn, False)
    rekognition.create_stream_processor(
        Name="reader", Input={"KinesisVideoStream": {"Arn": STAGE}}, Output={"KinesisDataStream": {"Arn": arn}},
        RoleArn=ROLE, Settings={"FaceSearch": {"CollectionId": COLLECTION, "FaceMatchThreshold": 80}})
    found: set[str] = set()
    deadline = time.monotonic() + 40
    reader = streams.read_face_search_records(kinesis, arn, stop=lambda: found >= {LIN, ALEX}
                                              or time.monotonic() > deadline, poll_s=0.2)
    rekognition.start_stream_processor(Name="reader")  # after the reader: LATEST misses nothing
    arrived_list = []
    try:
        for arrived in reader:
            arrived_list.append(arrived)
            found |= {m.who for m in streams.matches_in(arrived.record)}
    finally:
        rekognition.stop_stream_processor(Name="reader")
    assert found == {LIN, ALEX}
    first = arrived_list[0]
    assert first.record["InputInformation"]["KinesisVideo"]["StreamArn"] == STAGE
    assert first.shard_id.startswith("shardId-")
    latencies = [a.latency_s for a in arrived_list]
    assert all(lat is not None and -0.5 < lat < 10 for lat in latencies), latencies
    matches = [m for a in arrived_list for m in streams.matches_in(a.record)]
    assert all(m.similarity >= 80 for m in matches)
    assert all(0 <= m.bounding_box["Left"] <= 1 and 0 < m.bounding_box["Width"] <= 1 for m in matches)
    assert streams.wait_for_processor(rekognition, "reader", {"STOPPED"}, timeout_s=15)["Status"] == "STOPPED"
    # From the start, not following: everything the stream holds (what came after the reader stopped too), then end.
    held = list(streams.read_face_search_records(kinesis, "reader-faces", from_start=True, follow=False, poll_s=0.1))
    assert len(held) >= len(arrived_list)
    assert [h.sequence_number for h in held[:len(arrived_list)]] == [a.sequence_number for a in arrived_list]


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def watch(live: LiveServer, moto: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rekog_compat", "watch", "--collection-id", COLLECTION, "--endpoint-url", live.url,
         "--kinesis-endpoint-url", moto, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **FAKE_AWS_ENV},
    )


def test_watch_prints_lin_manuel_miranda_and_stops_on_ctrl_c(live: LiveServer, moto: str, rekognition: Any,
                                                             kinesis: Any) -> None:
    process = watch(live, moto, "--stream-arn", STAGE, "--name", "watched", "--duration", "90")
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while not any(LIN in line for line in seen) and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append(line)
        assert any(LIN in line for line in seen), (seen, process.poll())
        assert rekognition.describe_stream_processor(Name="watched")["Status"] == "RUNNING"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stream processor watched STOPPED" in err and "deleted stream processor watched" in err
    row = next(line for line in seen if LIN in line).split()
    time_of_day, who, similarity = row[0], row[1], float(row[2])
    assert who == LIN and similarity >= 80 and len(time_of_day) == len("12:34:56.789")
    assert {cell.split("=")[0] for cell in row[3:]} == {"l", "t", "w", "h"}
    with pytest.raises(ClientError) as gone:
        rekognition.describe_stream_processor(Name="watched")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "watched" not in kinesis.list_streams()["StreamNames"]  # the data stream it created is deleted too


def test_watch_an_unmapped_stream_names_the_video_sources_entry(live: LiveServer, moto: str, rekognition: Any,
                                                                tmp_path: Path) -> None:
    camera = tmp_path / "door.mp4"  # only its path is printed: the server never reads it
    process = watch(live, moto, "--stream-arn", UNMAPPED, "--name", "unmapped", "--source", str(camera),
                    "--duration", "60")
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, err
    assert "FAILED" in err and "--video-sources" in err
    assert json.dumps({UNMAPPED: str(camera.resolve())}) in err
    assert out == ""
    with pytest.raises(ClientError):
        rekognition.describe_stream_processor(Name="unmapped")


def test_watch_ends_by_itself_after_duration_with_json_lines(live: LiveServer, moto: str, rekognition: Any,
                                                             kinesis: Any) -> None:
    started = time.monotonic()
    process = watch(live, moto, "--stream-arn", STAGE, "--name", "timed", "--duration", "6", "--json",
                    "--threshold", "85")
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert 6 <= time.monotonic() - started < 45
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and {row["Who"] for row in rows} <= {LIN, ALEX}, rows
    assert all(row["Similarity"] >= 85 and row["FrameOffsetInSeconds"] < 7 for row in rows)
    assert all(set(row["BoundingBox"]) == {"Width", "Height", "Left", "Top"} for row in rows)
    assert all(abs(row["FrameTime"] - time.time()) < 60 for row in rows)
    assert "stream processor timed STOPPED" in err
    with pytest.raises(ClientError):
        rekognition.describe_stream_processor(Name="timed")
