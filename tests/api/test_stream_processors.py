"""Stream processors through boto3: the shared clip served as a live source (a file played in real time),
face-search records read back from moto's Kinesis, the processors' states, errors, tags and restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.s3 import FAKE_AWS_ENV, moto_with_fake_credentials

LIN, ALEX = "lin-manuel-miranda", "alex-lacamoire"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/AmazonRekognitionServiceRole"


def kvs(name: str) -> str:
    return f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/{name}/1700000000000"


STAGE, SECOND_STAGE, UNMAPPED, UNREACHABLE, GARBAGE = (
    kvs("stage"), kvs("stage-2"), kvs("nowhere"), kvs("unreachable"), kvs("garbage")
)


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_with_fake_credentials() as url:
        yield url


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sources")
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 1024)
    clip = str(facedata_dir() / "video" / "short_hamilton_clip.mp4")
    mapping = {STAGE: clip, SECOND_STAGE: clip, UNREACHABLE: "rtsp://127.0.0.1:9/none", GARBAGE: str(garbage)}
    (folder / "sources.json").write_text(json.dumps(mapping))
    return folder / "sources.json"


def stream_server(data_dir: Path, moto: str, sources: Path) -> LiveServer:
    return LiveServer(
        data_dir, "--kinesis-endpoint-url", moto, "--video-sources", str(sources), env=FAKE_AWS_ENV
    ).start()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, moto: str, sources: Path, validated_operations: list[str]) -> Any:
    data_dir = tmp_path_factory.mktemp("streams")
    server = stream_server(data_dir, moto, sources)
    rekognition = make_client(server.url, validated_operations, access_key=ACCOUNT)
    rekognition.create_collection(CollectionId="performers")
    for name in (LIN, ALEX):
        still = (facedata_dir() / "video" / f"{name}.png").read_bytes()
        rekognition.index_faces(CollectionId="performers", Image={"Bytes": still}, ExternalImageId=name, MaxFaces=1)
    kinesis = boto3.client("kinesis", endpoint_url=moto, region_name="us-east-1")
    state = {"server": server, "rekognition": rekognition, "kinesis": kinesis, "data_dir": data_dir,
             "moto": moto, "sources": sources, "validated": validated_operations}
    yield state
    state["server"].stop()


def data_stream(kinesis: Any, name: str) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return str(kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"])


def create(rekognition: Any, name: str, source_arn: str, output_arn: str, **extra: Any) -> str:
    return str(rekognition.create_stream_processor(
        Name=name, Input={"KinesisVideoStream": {"Arn": source_arn}},
        Output={"KinesisDataStream": {"Arn": output_arn}}, RoleArn=ROLE,
        Settings={"FaceSearch": {"CollectionId": "performers", "FaceMatchThreshold": 50}}, **extra,
    )["StreamProcessorArn"])


def read_records(kinesis: Any, stream: str, until: Any, timeout_s: float = 60) -> list[dict[str, Any]]:
    """Records of the stream's one shard, from its start, until `until(records)` or the timeout."""
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    position, records = iterator["ShardIterator"], []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(records):
        got = kinesis.get_records(ShardIterator=position)
        position = got["NextShardIterator"]
        records += [json.loads(r["Data"]) for r in got["Records"]]
        time.sleep(0.3)
    return records


def matched_names(records: list[dict[str, Any]]) -> set[str]:
    return {m["Face"]["ExternalImageId"] for r in records for f in r["FaceSearchResponse"] for m in f["MatchedFaces"]}


def wait_status(rekognition: Any, name: str, wanted: set[str], timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        described = rekognition.describe_stream_processor(Name=name)
        if described["Status"] in wanted or time.monotonic() > deadline:
            return dict(described)
        time.sleep(0.2)


def test_two_processors_search_the_live_clip_and_write_records_for_both_performers(setup):
    rekognition, kinesis = setup["rekognition"], setup["kinesis"]
    outputs = {name: data_stream(kinesis, f"{name}-faces") for name in ("stage", "stage-2")}
    create(rekognition, "stage", STAGE, outputs["stage"])
    create(rekognition, "stage-2", SECOND_STAGE, outputs["stage-2"])
    assert rekognition.describe_stream_processor(Name="stage")["Status"] == "STOPPED"
    for name in outputs:
        assert rekognition.start_stream_processor(Name=name)["SessionId"]
    assert wait_status(rekognition, "stage", {"RUNNING"})["Status"] == "RUNNING"
    for name in outputs:
        records = read_records(kinesis, f"{name}-faces", lambda rs: matched_names(rs) == {LIN, ALEX})
        assert matched_names(records) == {LIN, ALEX}
        record = records[0]
        video = record["InputInformation"]["KinesisVideo"]
        assert video["StreamArn"] == (STAGE if name == "stage" else SECOND_STAGE)
        assert set(video) == {"StreamArn", "FragmentNumber", "ServerTimestamp", "ProducerTimestamp",
                              "FrameOffsetInSeconds"}
        assert record["StreamProcessorInformation"] == {"Status": "RUNNING"}
        for found in (f for r in records for f in r["FaceSearchResponse"]):
            assert {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"} <= set(found["DetectedFace"])
            assert all(m["Similarity"] >= 80 for m in found["MatchedFaces"])  # 50 asked, raised to 80
    described = rekognition.describe_stream_processor(Name="stage")
    assert described["Settings"] == {"FaceSearch": {"CollectionId": "performers", "FaceMatchThreshold": 80.0}}
    assert described["Input"] == {"KinesisVideoStream": {"Arn": STAGE}}
    audit = [json.loads(line) for line in (setup["data_dir"] / "audit.jsonl").read_text().splitlines()]
    matched = [r for r in audit if r.get("event") == "faces matched" and r["stream_processor"].endswith("/stage")]
    assert matched and {m["ExternalImageId"] for r in matched for m in r["matches"]} == {LIN, ALEX}
    for name in outputs:
        rekognition.stop_stream_processor(Name=name)
    assert wait_status(rekognition, "stage", {"STOPPED"}, timeout_s=10)["Status"] == "STOPPED"
    assert wait_status(rekognition, "stage-2", {"STOPPED"}, timeout_s=10)["Status"] == "STOPPED"


def test_lifecycle_states_and_their_errors(setup):
    rekognition, kinesis = setup["rekognition"], setup["kinesis"]
    output = data_stream(kinesis, "lifecycle-faces")
    create(rekognition, "lifecycle", STAGE, output)

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as refused:
            call(**kwargs)
        return str(refused.value.response["Error"]["Code"])

    assert code(create, rekognition=rekognition, name="lifecycle", source_arn=STAGE,
                output_arn=output) == "ResourceInUseException"
    assert code(rekognition.stop_stream_processor, Name="lifecycle") == "ResourceInUseException"
    rekognition.start_stream_processor(Name="lifecycle")
    assert code(rekognition.start_stream_processor, Name="lifecycle") == "ResourceInUseException"
    assert code(rekognition.delete_stream_processor, Name="lifecycle") == "ResourceInUseException"
    assert code(rekognition.update_stream_processor, Name="lifecycle",
                DataSharingPreferenceForUpdate={"OptIn": False}) == "ResourceInUseException"
    wait_status(rekognition, "lifecycle", {"RUNNING"})
    rekognition.stop_stream_processor(Name="lifecycle")
    assert wait_status(rekognition, "lifecycle", {"STOPPED"}, timeout_s=10)["Status"] == "STOPPED"
    rekognition.update_stream_processor(Name="lifecycle", DataSharingPreferenceForUpdate={"OptIn": False})
    assert rekognition.describe_stream_processor(Name="lifecycle")["DataSharingPreference"] == {"OptIn": False}
    rekognition.delete_stream_processor(Name="lifecycle")
    assert code(rekognition.describe_stream_processor, Name="lifecycle") == "ResourceNotFoundException"
    assert code(rekognition.start_stream_processor, Name="lifecycle") == "ResourceNotFoundException"


def test_create_refuses_what_face_search_cannot_run(setup):
    rekognition, kinesis = setup["rekognition"], setup["kinesis"]
    output = data_stream(kinesis, "refused-faces")
    base = {"Input": {"KinesisVideoStream": {"Arn": STAGE}}, "Output": {"KinesisDataStream": {"Arn": output}},
            "RoleArn": ROLE}
    cases = [
        {"Name": "no-collection", "Settings": {"FaceSearch": {"CollectionId": "nobody"}}},
        {"Name": "labels", "Settings": {"ConnectedHome": {"Labels": ["PERSON"]}}},
        {"Name": "regions", "Settings": {"FaceSearch": {"CollectionId": "performers"}},
         "RegionsOfInterest": [{"BoundingBox": {"Left": 0, "Top": 0, "Width": 0.5, "Height": 0.5}}]},
    ]
    for case in cases:
        with pytest.raises(ClientError) as refused:
            rekognition.create_stream_processor(**base, **case)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterException", case["Name"]


def test_listing_pages_and_tags_on_a_processor_arn(setup):
    rekognition, kinesis = setup["rekognition"], setup["kinesis"]
    output = data_stream(kinesis, "listed-faces")
    arns = [create(rekognition, f"listed-{n}", STAGE, output, Tags={"site": f"door-{n}"}) for n in range(3)]
    names, token = [], None
    while True:
        page = rekognition.list_stream_processors(MaxResults=2, **({"NextToken": token} if token else {}))
        names += [p["Name"] for p in page["StreamProcessors"]]
        if not (token := page.get("NextToken")):
            break
    assert [n for n in names if n.startswith("listed-")] == ["listed-0", "listed-1", "listed-2"]
    assert rekognition.list_tags_for_resource(ResourceArn=arns[0])["Tags"] == {"site": "door-0"}
    rekognition.tag_resource(ResourceArn=arns[0], Tags={"owner": "security"})
    rekognition.untag_resource(ResourceArn=arns[0], TagKeys=["site"])
    assert rekognition.list_tags_for_resource(ResourceArn=arns[0])["Tags"] == {"owner": "security"}
    other = make_client(setup["server"].url, setup["validated"], access_key="999999999999")
    with pytest.raises(ClientError) as foreign:
        other.list_tags_for_resource(ResourceArn=arns[0])
    assert foreign.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_bad_sources_are_reported_and_the_others_keep_running(setup):
    rekognition, kinesis = setup["rekognition"], setup["kinesis"]
    output = data_stream(kinesis, "bad-sources-faces")
    for name, source in (("unmapped", UNMAPPED), ("unreachable", UNREACHABLE), ("garbage", GARBAGE),
                         ("healthy", STAGE)):
        create(rekognition, name, source, output)
        rekognition.start_stream_processor(Name=name)
    unmapped = wait_status(rekognition, "unmapped", {"FAILED"})
    assert unmapped["Status"] == "FAILED" and "--video-sources" in unmapped["StatusMessage"]
    for name in ("unreachable", "garbage"):
        deadline = time.monotonic() + 30
        while "retrying" not in (rekognition.describe_stream_processor(Name=name).get("StatusMessage") or ""):
            assert time.monotonic() < deadline, rekognition.describe_stream_processor(Name=name)
            time.sleep(0.3)
    records = read_records(kinesis, "bad-sources-faces", lambda rs: LIN in matched_names(rs))
    assert LIN in matched_names(records)
    assert wait_status(rekognition, "healthy", {"RUNNING"})["Status"] == "RUNNING"
    for name in ("unreachable", "garbage", "healthy"):
        rekognition.stop_stream_processor(Name=name)
    for name in ("unreachable", "garbage", "healthy"):
        assert wait_status(rekognition, name, {"STOPPED"}, timeout_s=15)["Status"] == "STOPPED"


def test_a_running_processor_resumes_after_a_restart(setup):
    rekognition, kinesis = setup["rekognition"], setup["kinesis"]
    data_stream(kinesis, "restart-faces")
    output = kinesis.describe_stream(StreamName="restart-faces")["StreamDescription"]["StreamARN"]
    create(rekognition, "restarted", STAGE, output, Tags={"k": "v"})
    rekognition.start_stream_processor(Name="restarted")
    wait_status(rekognition, "restarted", {"RUNNING"})
    setup["server"].stop()
    setup["server"] = stream_server(setup["data_dir"], setup["moto"], setup["sources"])
    rekognition = make_client(setup["server"].url, setup["validated"], access_key=ACCOUNT)
    setup["rekognition"] = rekognition
    assert wait_status(rekognition, "restarted", {"RUNNING"})["Status"] == "RUNNING"
    assert rekognition.list_tags_for_resource(
        ResourceArn=rekognition.describe_stream_processor(Name="restarted")["StreamProcessorArn"]
    )["Tags"] == {"k": "v"}
    started = time.time()
    records = read_records(kinesis, "restart-faces",
                           lambda rs: any(r["InputInformation"]["KinesisVideo"]["ProducerTimestamp"] > started
                                          for r in rs))
    assert any(r["InputInformation"]["KinesisVideo"]["ProducerTimestamp"] > started for r in records)
    rekognition.stop_stream_processor(Name="restarted")
    assert wait_status(rekognition, "restarted", {"STOPPED"}, timeout_s=10)["Status"] == "STOPPED"
