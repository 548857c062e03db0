"""Stored video through boto3 and the AWS CLI: StartFaceSearch / GetFaceSearch, StartFaceDetection /
GetFaceDetection, on a real clip read from moto's S3, completion notices through moto's SNS into SQS.

The clip (../shared/facedata/video/short_hamilton_clip.mp4, 640x360, 9.2 s) was looked at frame by frame
to write down who is where (GROUND_TRUTH): until 0.6 s Lin-Manuel Miranda stands on the right of the stage
and Alex Lacamoire sits at the piano on the left (a face of ~30 px); until 2.8 s Alex Lacamoire in profile,
close up; until 7.9 s Lin-Manuel Miranda (the cut to the audience is at 7.89 s); then the audience, neither
of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.live_server import LiveServer
from harness.postgres import fresh_database
from tests.api.test_awscli import aws_cli
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.postgres import postgres_server_url  # noqa: F401 (a fixture)
from tests.support.s3 import FAKE_AWS_ENV, moto_with_fake_credentials

LIN, ALEX = "lin-manuel-miranda", "alex-lacamoire"
BUCKET = "footage"
CLIP = "short_hamilton_clip.mp4"
SHORT_CLIP = "first-3-seconds.mp4"  # for the tests of the job machinery, which need no particular face
ROLE = "arn:aws:iam::123456789012:role/AmazonRekognitionServiceRole"
JOB_TIMEOUT_S = 240  # a job takes ~10 s on this 2-core machine, more when the suite loads it


def who_may_match(timestamp_ms: int, left: float) -> set[str]:
    """Whom a face at this time and position (BoundingBox.Left) may be matched to (the module docstring)."""
    if timestamp_ms < 600:
        return {LIN} if left > 0.5 else {ALEX}
    if timestamp_ms < 2800:
        return {ALEX}
    if timestamp_ms < 7890:
        return {LIN}
    return set()


def first_seconds(path: Path, seconds: float) -> bytes:
    """The first `seconds` of a video, re-encoded to H.264 in MP4 with PyAV (a real, shorter video)."""
    import io
    from fractions import Fraction

    import av

    out = io.BytesIO()
    with av.open(str(path)) as source, av.open(out, mode="w", format="mp4") as target:
        stream_in = source.streams.video[0]
        stream_out = target.add_stream("h264", rate=30)
        stream_out.width, stream_out.height, stream_out.pix_fmt = stream_in.width, stream_in.height, "yuv420p"
        for n, frame in enumerate(source.decode(stream_in)):
            if n >= seconds * 30:
                break
            frame.pts, frame.time_base = n, Fraction(1, 30)
            target.mux(stream_out.encode(frame))
        target.mux(stream_out.encode(None))
    return out.getvalue()


def clients(url: str, endpoint: str, validated: list[str]) -> dict[str, Any]:
    aws = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    return {
        "rekognition": make_client(url, validated, access_key="111122223333"),
        "s3": boto3.client("s3", **aws),
        "sns": boto3.client("sns", **aws),
        "sqs": boto3.client("sqs", **aws),
    }


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_with_fake_credentials() as url:
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        video = facedata_dir() / "video"
        s3.upload_file(str(video / CLIP), BUCKET, CLIP)
        data = (video / CLIP).read_bytes()
        s3.put_object(Bucket=BUCKET, Key="truncated.mp4", Body=data[: len(data) // 3])
        s3.put_object(Bucket=BUCKET, Key="garbage.mp4", Body=bytes(range(256)) * 4096)
        s3.put_object(Bucket=BUCKET, Key="still.mp4", Body=(video / f"{LIN}.png").read_bytes())
        s3.put_object(Bucket=BUCKET, Key=SHORT_CLIP, Body=first_seconds(video / CLIP, 3.0))
        yield url


def video_server(data_dir: Path, moto_url: str, *extra: str) -> LiveServer:
    """A server reading moto's S3 and publishing to its SNS, sampling 3 frames a second (the timestamps
    the tests name are those of that rate)."""
    return LiveServer(
        data_dir, "--s3-endpoint-url", moto_url, "--sns-endpoint-url", moto_url, "--video-sample-rate", "3", *extra,
        env=FAKE_AWS_ENV,
    ).start()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, moto: str, validated_operations: list[str]) -> Iterator[Any]:
    """A server reading moto's S3, its clients, and a collection holding the two performers' stills."""
    server = video_server(tmp_path_factory.mktemp("video"), moto)
    aws = clients(server.url, moto, validated_operations)
    aws["server"] = server
    rekognition = aws["rekognition"]
    rekognition.create_collection(CollectionId="performers")
    stills = facedata_dir() / "video"
    for name in (LIN, ALEX):
        rekognition.index_faces(
            CollectionId="performers", Image={"Bytes": (stills / f"{name}.png").read_bytes()},
            ExternalImageId=name, MaxFaces=1,
        )
    yield aws
    server.stop()


def s3_video(name: str = CLIP) -> dict[str, Any]:
    return {"S3Object": {"Bucket": BUCKET, "Name": name}}


def finished(get: Any, job_id: str, **kwargs: Any) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        response = get(JobId=job_id, **kwargs)
        if response["JobStatus"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return dict(response)
        time.sleep(0.5)


def all_pages(get: Any, job_id: str, member: str, **kwargs: Any) -> list[dict[str, Any]]:
    items, token = [], None
    while True:
        response = get(JobId=job_id, **kwargs, **({"NextToken": token} if token else {}))
        items += response[member]
        token = response.get("NextToken")
        if not token:
            return items


@pytest.fixture(scope="module")
def notices(video: Any) -> dict[str, Any]:
    """An SNS topic with an SQS queue subscribed, to read the completion notices."""
    topic = video["sns"].create_topic(Name="AmazonRekognitionJobs")["TopicArn"]
    queue = video["sqs"].create_queue(QueueName="rekognition-jobs")["QueueUrl"]
    arn = video["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    video["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return {"topic": topic, "queue": queue}


@pytest.fixture(scope="module")
def face_search(video: Any, notices: dict[str, Any]) -> dict[str, Any]:
    rekognition = video["rekognition"]
    job_id = rekognition.start_face_search(
        Video=s3_video(), CollectionId="performers", ClientRequestToken="search-1", JobTag="stage-clip",
        NotificationChannel={"SNSTopicArn": notices["topic"], "RoleArn": ROLE},
    )["JobId"]
    done = finished(rekognition.get_face_search, job_id)
    return {"job_id": job_id, "response": done}


def test_face_search_finds_both_performers_where_they_are_visible(face_search):
    response = face_search["response"]
    assert response["JobStatus"] == "SUCCEEDED", response.get("StatusMessage")
    persons = response["Persons"]
    assert [p["Timestamp"] for p in persons] == sorted(p["Timestamp"] for p in persons)
    for person in persons:
        matched = {m["Face"]["ExternalImageId"] for m in person["FaceMatches"]}
        assert matched, person
        assert matched <= who_may_match(person["Timestamp"], person["Person"]["BoundingBox"]["Left"]), person
        assert all(m["Similarity"] >= 80 for m in person["FaceMatches"])
    lin_times = {p["Timestamp"] for p in persons if p["FaceMatches"][0]["Face"]["ExternalImageId"] == LIN}
    # Lin-Manuel Miranda faces the camera from 3.0 s to 7.0 s: every sampled frame (3 per second) finds him.
    assert {t for t in lin_times if 2900 <= t <= 7100} == {3003, 3337, 3670, 4004, 4338, 4671, 5005, 5339, 5672,
                                                           6006, 6340, 6673, 7007}
    assert any(p["FaceMatches"][0]["Face"]["ExternalImageId"] == ALEX for p in persons if p["Timestamp"] < 600)


def test_face_search_keeps_one_person_index_per_performer(face_search):
    names_by_index: dict[int, set[str]] = {}
    for person in face_search["response"]["Persons"]:
        names = {m["Face"]["ExternalImageId"] for m in person["FaceMatches"]}
        names_by_index.setdefault(person["Person"]["Index"], set()).update(names)
    assert all(len(names) == 1 for names in names_by_index.values()), names_by_index
    lin_indexes = [i for i, names in names_by_index.items() if names == {LIN}]
    assert len(lin_indexes) == 1  # the same person after the cut at 0.6 s and through the close-up


def test_face_search_pages_and_sorts_by_person_index(video, face_search):
    get, job_id = video["rekognition"].get_face_search, face_search["job_id"]
    whole = face_search["response"]["Persons"]
    assert "NextToken" not in face_search["response"]
    assert all_pages(get, job_id, "Persons", MaxResults=4) == whole
    by_index = all_pages(get, job_id, "Persons", MaxResults=5, SortBy="INDEX")
    assert by_index == sorted(whole, key=lambda p: (p["Person"]["Index"], p["Timestamp"]))
    with pytest.raises(ClientError) as refused:
        get(JobId=job_id, NextToken=get(JobId=job_id, MaxResults=4)["NextToken"], SortBy="INDEX")
    assert refused.value.response["Error"]["Code"] == "InvalidPaginationTokenException"


def test_face_search_reports_the_video_and_its_metadata(face_search):
    response = face_search["response"]
    assert response["JobId"] == face_search["job_id"]
    assert response["JobTag"] == "stage-clip"
    assert response["Video"] == s3_video()
    metadata = response["VideoMetadata"]
    assert metadata["Codec"] == "h264" and metadata["Format"] == "QuickTime / MOV"
    assert (metadata["FrameWidth"], metadata["FrameHeight"]) == (640, 360)
    assert metadata["FrameRate"] == pytest.approx(29.97, abs=0.01)
    assert 9100 <= metadata["DurationMillis"] <= 9300
    assert metadata["ColorRange"] == "LIMITED"


def test_completion_notice_is_published_to_the_sns_topic(video, notices, face_search):
    received = video["sqs"].receive_message(QueueUrl=notices["queue"], WaitTimeSeconds=5, MaxNumberOfMessages=10)
    messages = [json.loads(json.loads(m["Body"])["Message"]) for m in received.get("Messages", [])]
    notice = next(m for m in messages if m["JobId"] == face_search["job_id"])
    assert notice["Status"] == "SUCCEEDED" and notice["API"] == "StartFaceSearch"
    assert notice["JobTag"] == "stage-clip"
    assert notice["Video"] == {"S3ObjectName": CLIP, "S3Bucket": BUCKET}
    assert abs(notice["Timestamp"] / 1000 - time.time()) < 600


def test_the_same_client_request_token_returns_the_same_job(video, notices, face_search):
    rekognition = video["rekognition"]
    again = rekognition.start_face_search(
        Video=s3_video(), CollectionId="performers", ClientRequestToken="search-1", JobTag="stage-clip",
        NotificationChannel={"SNSTopicArn": notices["topic"], "RoleArn": ROLE},
    )
    assert again["JobId"] == face_search["job_id"]
    with pytest.raises(ClientError) as mismatch:
        rekognition.start_face_search(Video=s3_video(), CollectionId="performers", ClientRequestToken="search-1")
    assert mismatch.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"


def test_audit_log_holds_the_search_and_every_match(video, face_search):
    lines = (video["server"].data_dir / "audit.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r["operation"] == "StartFaceSearch" and r.get("job_id") == face_search["job_id"] and "event" not in r
               for r in records)
    finished_record = next(r for r in records if r.get("event") == "job finished")
    assert finished_record["job_id"] == face_search["job_id"] and finished_record["collection"] == "performers"
    matches = sum(len(p["FaceMatches"]) for p in face_search["response"]["Persons"])
    assert finished_record["matched"] == matches
    assert {m["ExternalImageId"] for m in finished_record["matches"]} == {LIN, ALEX}


def test_face_detection_returns_every_sampled_face_in_time_order(video):
    rekognition = video["rekognition"]
    job_id = rekognition.start_face_detection(Video=s3_video(), FaceAttributes="ALL")["JobId"]
    done = finished(rekognition.get_face_detection, job_id, MaxResults=1000)
    assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
    faces = done["Faces"]
    assert [f["Timestamp"] for f in faces] == sorted(f["Timestamp"] for f in faces)
    assert len({f["Timestamp"] for f in faces if 2900 <= f["Timestamp"] <= 7100}) == 13  # Lin, every sample
    for face in faces:
        detail = face["Face"]
        assert len(detail["Landmarks"]) == 30 and {"AgeRange", "Smile", "Pose", "Quality"} <= set(detail)
    assert all_pages(rekognition.get_face_detection, job_id, "Faces", MaxResults=7) == faces


def test_start_refuses_missing_objects_collections_and_jobs(video):
    rekognition = video["rekognition"]
    with pytest.raises(ClientError) as missing:
        rekognition.start_face_detection(Video=s3_video("nothing-here.mp4"))
    assert missing.value.response["Error"]["Code"] == "InvalidS3ObjectException"
    with pytest.raises(ClientError) as no_collection:
        rekognition.start_face_search(Video=s3_video(), CollectionId="nobody")
    assert no_collection.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as no_job:
        rekognition.get_face_search(JobId="f" * 64)
    assert no_job.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("name", ["truncated.mp4", "garbage.mp4", "still.mp4"])
def test_broken_and_non_video_files_fail_the_job_and_nothing_else(video, name):
    rekognition = video["rekognition"]
    job_id = rekognition.start_face_search(Video=s3_video(name), CollectionId="performers")["JobId"]
    done = finished(rekognition.get_face_search, job_id)
    if name == "truncated.mp4" and done["JobStatus"] == "SUCCEEDED":
        # The first third decodes: what it holds is analysed, and nothing past it is invented.
        assert all(p["Timestamp"] < 9300 for p in done["Persons"])
    else:
        assert done["JobStatus"] == "FAILED" and done["StatusMessage"], done
        assert done["Persons"] == []
    assert rekognition.describe_collection(CollectionId="performers")["FaceCount"] == 2


def test_aws_cli_drives_a_face_search(video, notices, tmp_path):
    server, env = video["server"], {"AWS_ACCESS_KEY_ID": "222233334444"}
    run = lambda *args: run_cli(server.url, env, *args)  # noqa: E731
    run("create-collection", "--collection-id", "cli-performers")
    still = facedata_dir() / "video" / f"{LIN}.png"
    run("index-faces", "--collection-id", "cli-performers", "--image-bytes", f"fileb://{still}",
        "--external-image-id", LIN)
    channel = json.dumps({"SNSTopicArn": notices["topic"], "RoleArn": ROLE})
    job_id = run("start-face-search", "--collection-id", "cli-performers", "--video", json.dumps(s3_video()),
                 "--notification-channel", channel, "--job-tag", "from-cli")["JobId"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (result := run("get-face-search", "--job-id", job_id))["JobStatus"] == "IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(1)
    assert result["JobStatus"] == "SUCCEEDED" and result["JobTag"] == "from-cli"
    assert {m["Face"]["ExternalImageId"] for p in result["Persons"] for m in p["FaceMatches"]} == {LIN}
    received = video["sqs"].receive_message(QueueUrl=notices["queue"], WaitTimeSeconds=5, MaxNumberOfMessages=10)
    notices_seen = [json.loads(json.loads(m["Body"])["Message"]) for m in received.get("Messages", [])]
    assert any(n["JobId"] == job_id and n["JobTag"] == "from-cli" for n in notices_seen)


def run_cli(url: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    environment = {**os.environ, **FAKE_AWS_ENV, "AWS_CONFIG_FILE": os.devnull,
                   "AWS_SHARED_CREDENTIALS_FILE": os.devnull, **env}
    done = subprocess.run([*aws_cli(), "--endpoint-url", url, "--output", "json", "rekognition", *args],
                          capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)) if done.stdout.strip() else {}


def test_at_most_twenty_jobs_are_in_progress_per_account(tmp_path, moto, validated_operations):
    server = video_server(tmp_path, moto, "--video-jobs", "1")
    try:
        rekognition = make_client(server.url, validated_operations, access_key="333344445555")
        started = [rekognition.start_face_detection(Video=s3_video())["JobId"] for _ in range(20)]
        assert len(set(started)) == 20
        with pytest.raises(ClientError) as refused:
            rekognition.start_face_detection(Video=s3_video())
        assert refused.value.response["Error"]["Code"] == "LimitExceededException"
        other_account = make_client(server.url, validated_operations, access_key="444455556666")
        assert other_account.start_face_detection(Video=s3_video())["JobId"]
    finally:
        server.stop()


def test_a_job_interrupted_by_kill_9_is_finished_after_the_restart(tmp_path, moto, validated_operations):
    server = video_server(tmp_path, moto)
    rekognition = make_client(server.url, validated_operations, access_key="555566667777")
    job_id = rekognition.start_face_detection(Video=s3_video(SHORT_CLIP))["JobId"]
    deadline = time.monotonic() + 60
    while not any(f"video job {job_id} (StartFaceDetection) started" in line for line in server.output):
        assert time.monotonic() < deadline, "".join(server.output)
        time.sleep(0.2)
    time.sleep(1.0)
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    restarted = video_server(tmp_path, moto)
    try:
        rekognition = make_client(restarted.url, validated_operations, access_key="555566667777")
        done = finished(rekognition.get_face_detection, job_id)
        assert done["JobStatus"] == "SUCCEEDED", done.get("StatusMessage")
        assert done["VideoMetadata"]["DurationMillis"] == pytest.approx(3000, abs=100)
        assert any(f["Timestamp"] < 400 for f in done["Faces"])  # the two performers at the start
    finally:
        restarted.stop()


def test_with_two_worker_processes_every_job_runs_once(tmp_path, moto, validated_operations):
    server = video_server(tmp_path, moto, "--workers", "2")
    try:
        rekognition = make_client(server.url, validated_operations, access_key="666677778888")
        jobs = [rekognition.start_face_detection(Video=s3_video(SHORT_CLIP))["JobId"] for _ in range(2)]
        results = [finished(rekognition.get_face_detection, job_id) for job_id in jobs]
        assert [r["JobStatus"] for r in results] == ["SUCCEEDED"] * 2
        assert results[0]["Faces"] == results[1]["Faces"] and results[0]["Faces"]
        for job_id in jobs:
            assert sum(f"video job {job_id} (StartFaceDetection) started" in line for line in server.output) == 1
    finally:
        server.stop()


def test_two_servers_on_one_postgres_run_each_job_once_and_both_answer(
    tmp_path, moto, validated_operations, postgres_server_url  # noqa: F811
):
    with fresh_database(postgres_server_url) as url:
        servers = [video_server(tmp_path / f"data-{n}", moto, "--store", url) for n in range(2)]
        try:
            first, second = (make_client(s.url, validated_operations, access_key="777788889999") for s in servers)
            jobs = [first.start_face_detection(Video=s3_video(SHORT_CLIP))["JobId"] for _ in range(2)]
            results = [finished(second.get_face_detection, job_id) for job_id in jobs]
            assert [r["JobStatus"] for r in results] == ["SUCCEEDED"] * 2
            assert first.get_face_detection(JobId=jobs[0]) == {**results[0], "ResponseMetadata": ANY}
            for job_id in jobs:
                starts = sum(f"video job {job_id} (StartFaceDetection) started" in line
                             for server in servers for line in server.output)
                assert starts == 1
        finally:
            for server in servers:
                server.stop()
