"""rekog_sdk.video, `rekog-compat video` and the video comparison report, against a live server and moto.

One moto server (S3 and SNS) and one rekog-compat server reading from it serve the whole module: the two
performers' stills are indexed once (ExternalImageId = file stem) and the shared clip's face search runs
once for the helpers' tests; the CLI and the report each run their own jobs (each ~10 s on 2 cores).
person_timeline and faces_per_second are also checked on hand-made results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from rekog_sdk import video
from rekog_sdk.report.video import compare_video_search, coverage, format_side_by_side, time_agreement

from harness.live_server import LiveServer
from tests.support.facedata import facedata_dir
from tests.support.s3 import FAKE_AWS_ENV, moto_with_fake_credentials

BUCKET = "videos"
CLIP = "short_hamilton_clip.mp4"
COLLECTION = "hamilton"
PERFORMERS = ("lin-manuel-miranda", "alex-lacamoire")


# -- person_timeline and friends on hand-made results ---------------------------------------------------------------


def person(at: int, index: int, *matches: tuple[str | None, str, float]) -> dict[str, Any]:
    """One GetFaceSearch Persons item: (ExternalImageId or None, FaceId, Similarity) per match."""
    faces = [{"Similarity": s, "Face": {"FaceId": f, **({"ExternalImageId": x} if x else {})}} for x, f, s in matches]
    return {"Timestamp": at, "Person": {"Index": index}, "FaceMatches": faces}


def test_timeline_merges_consecutive_samples_and_splits_absences() -> None:
    persons = [person(t, 0, ("ann", "f1", 90.0 + t / 1000)) for t in (0, 333, 667, 1000)]
    persons += [person(t, 0, ("ann", "f1", 85.0)) for t in (3000, 3333)]  # back after 2 s: a new range
    persons += [person(t, 1, ("bob", "f2", 99.5)) for t in (333, 667, 1000, 1667)]  # a sample missed: split
    timeline = video.person_timeline(persons)
    assert [(a.person_index, a.who, a.ranges) for a in timeline] == [
        (0, "ann", [(0, 1000), (3000, 3333)]),
        (1, "bob", [(333, 1000), (1667, 1667)]),
    ]
    ann, bob = timeline
    assert ann.best_similarity == pytest.approx(91.0) and ann.matched_frames == 6 and ann.face_ids == ["f1"]
    assert bob.best_similarity == 99.5 and bob.matched_frames == 4
    # An explicit gap overrides the one read from the timestamps (333 ms x 1.5).
    assert video.person_timeline(persons, merge_gap_ms=2500)[0].ranges == [(0, 3333)]
    assert video.person_timeline(persons, merge_gap_ms=700)[1].ranges == [(333, 1667)]
    assert video.person_timeline(persons, sample_interval=500)[1].ranges == [(333, 1667)]
    assert video.person_timeline(persons, merge_gap_ms=100)[1].ranges == [(333, 333), (667, 667), (1000, 1000),
                                                                           (1667, 1667)]


def test_timeline_keys_on_index_and_identity() -> None:
    persons = [
        person(0, 0, ("ann", "f1", 90.0), ("ann", "f9", 95.0), (None, "f3", 81.0)),  # two faces of ann: one identity
        person(333, 0, ("ann", "f1", 92.0)),
        person(333, 2, ("ann", "f1", 88.0)),  # ann on another tracked person: its own appearance
        {"Timestamp": 667, "Person": {"Index": 5}},  # unmatched person (AWS lists them): skipped
        {"Timestamp": 667, "Person": {"Index": 6}, "FaceMatches": []},
    ]
    timeline = video.person_timeline(persons)
    assert [(a.person_index, a.who, a.ranges, a.best_similarity) for a in timeline] == [
        (0, "ann", [(0, 333)], 95.0),
        (0, "f3", [(0, 0)], 81.0),  # no ExternalImageId: the FaceId names it
        (2, "ann", [(333, 333)], 88.0),
    ]
    assert timeline[0].face_ids == ["f1", "f9"] and timeline[0].matched_frames == 2
    assert timeline[0].to_dict()["Ranges"] == [{"FromMillis": 0, "ToMillis": 333}]
    assert video.person_timeline([]) == []


def test_sample_interval_and_table() -> None:
    assert video.sample_interval_ms([1000, 0, 333, 333, 667]) == 333
    assert video.sample_interval_ms([500]) == video.DEFAULT_SAMPLE_INTERVAL_MS
    assert video.sample_interval_ms([0, 3000]) == 1000  # sparse matches, not a sampling of one frame in 3 s
    table = video.format_timeline(video.person_timeline([person(0, 3, ("ann", "f", 97.25)), person(3000, 3, ("ann", "f", 90))]))
    lines = table.splitlines()
    assert lines[0].split() == ["person", "who", "from", "(s)", "to", "(s)", "best", "similarity"]
    assert [line.split() for line in lines[1:]] == [["3", "ann", "0.0", "0.0", "97.2"], ["3", "ann", "3.0", "3.0", "97.2"]]
    assert video.format_timeline([]) == "no one in the collection was matched"


def test_faces_per_second() -> None:
    faces = [{"Timestamp": t, "Face": {}} for t in (0, 0, 333, 1001, 1001, 1001, 2500)]
    assert video.faces_per_second(faces) == [
        {"Second": 0, "Faces": 3, "FramesWithFaces": 2, "MostInOneFrame": 2},
        {"Second": 1, "Faces": 3, "FramesWithFaces": 1, "MostInOneFrame": 3},
        {"Second": 2, "Faces": 1, "FramesWithFaces": 1, "MostInOneFrame": 1},
    ]


def test_job_kind_spellings() -> None:
    for api in ("FaceSearch", "StartFaceSearch", "GetFaceSearch", "get_face_search", "face-search"):
        assert video.job_kind(api) == "FaceSearch"
    assert video.job_kind("StartFaceDetection") == "FaceDetection"
    with pytest.raises(ValueError):
        video.job_kind("LabelDetection")


def test_coverage_agreement() -> None:
    a = coverage([{"Ranges": [{"FromMillis": 1000, "ToMillis": 3000}]}], pad_ms=0)
    b = coverage([{"Ranges": [{"FromMillis": 2000, "ToMillis": 4000}, {"FromMillis": 3500, "ToMillis": 5000}]}], 0)
    assert b == [(2000, 5000)]
    assert time_agreement(a, b) == pytest.approx(1000 / 4000)
    assert time_agreement(a, a) == 1.0
    assert time_agreement([], []) is None
    assert time_agreement(a, []) == 0.0


# -- against a live server -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def facedata_video() -> Path:
    return facedata_dir() / "video"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_with_fake_credentials() as url:
        yield url


@pytest.fixture(scope="module")
def live(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("video-sdk"), "--s3-endpoint-url", moto, "--sns-endpoint-url", moto,
                        env=FAKE_AWS_ENV).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rekognition(live: LiveServer, facedata_video: Path, moto: str) -> Any:
    """A client of the live server with the two stills indexed and the clip in s3://videos/."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(facedata_video / CLIP), BUCKET, CLIP)
    client = boto3.client("rekognition", endpoint_url=live.url, region_name="us-east-1")
    client.create_collection(CollectionId=COLLECTION)
    for name in PERFORMERS:
        image = {"Bytes": (facedata_video / f"{name}.png").read_bytes()}
        indexed = client.index_faces(CollectionId=COLLECTION, Image=image, ExternalImageId=name, MaxFaces=1)
        assert len(indexed["FaceRecords"]) == 1
    return client


@pytest.fixture(scope="module")
def search_job(rekognition: Any) -> str:
    job_id = video.start_face_search(rekognition, COLLECTION, BUCKET, CLIP, job_tag="sdk-test")
    final = video.wait_for_job(rekognition, "StartFaceSearch", job_id, progress=False, poll_s=0.5, timeout_s=240)
    assert final["JobStatus"] == "SUCCEEDED", final
    assert final["JobTag"] == "sdk-test" and "ResponseMetadata" not in final
    return job_id


def check_performers(timeline: list[video.Appearance]) -> None:
    """Lin-Manuel Miranda matched from about 3 s to about 7 s; Alex Lacamoire at about 0 s."""
    by_who: dict[str, list[tuple[int, int]]] = {}
    for appearance in timeline:
        by_who.setdefault(appearance.who, []).extend(appearance.ranges)
    assert set(by_who) == set(PERFORMERS), by_who
    lin = max(by_who["lin-manuel-miranda"], key=lambda r: r[1] - r[0])
    assert lin[0] == pytest.approx(3000, abs=700) and lin[1] == pytest.approx(7000, abs=700), by_who
    assert min(start for start, _ in by_who["alex-lacamoire"]) <= 700, by_who


def test_all_results_pages_everything(rekognition: Any, search_job: str) -> None:
    whole = video.all_results(rekognition, "FaceSearch", search_job)
    assert whole.job_status == "SUCCEEDED" and whole.pages == 1 and whole.status_message is None
    assert whole.video_metadata["FrameWidth"] == 640 and whole.video_metadata["FrameHeight"] == 360
    assert whole.video_metadata["DurationMillis"] == pytest.approx(9200, abs=200)
    assert len(whole.items) >= 6
    small = video.all_results(rekognition, "GetFaceSearch", search_job, max_results=2)
    assert small.pages == -(-len(whole.items) // 2) >= 3
    assert small.items == whole.items  # same order, nothing lost or repeated
    by_index = video.all_results(rekognition, "FaceSearch", search_job, sort_by="INDEX", max_results=3)
    assert sorted(map(json.dumps, by_index.items)) == sorted(map(json.dumps, whole.items))
    assert [p["Person"]["Index"] for p in by_index.items] == sorted(p["Person"]["Index"] for p in by_index.items)


def test_person_timeline_names_the_performers(rekognition: Any, search_job: str) -> None:
    persons = video.all_results(rekognition, "FaceSearch", search_job).items
    timeline = video.person_timeline(persons)
    check_performers(timeline)
    assert all(a.best_similarity >= 80 for a in timeline)  # the job's FaceMatchThreshold


def test_wait_for_job_with_progress_bar(rekognition: Any, search_job: str, capsys: pytest.CaptureFixture[str]) -> None:
    final = video.wait_for_job(rekognition, "FaceSearch", search_job, progress=True, poll_s=0.1)
    assert final["JobStatus"] == "SUCCEEDED" and len(final["Persons"]) == 1  # polled with MaxResults=1
    assert "SUCCEEDED, 1 polls" in capsys.readouterr().err


def test_unknown_job_is_the_service_error(rekognition: Any) -> None:
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
        video.all_results(rekognition, "FaceSearch", "0" * 64)
    with pytest.raises(ValueError):
        video.all_results(rekognition, "FaceDetection", "0" * 64, sort_by="INDEX")


def test_cli_uploads_searches_and_prints_the_timeline(live: LiveServer, moto: str, rekognition: Any,
                                                      facedata_video: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rekog_compat", "video", "search", "--collection-id", COLLECTION,
         "--video", str(facedata_video / CLIP), "--bucket", BUCKET, "--key", "uploaded/clip.mp4",
         "--s3-endpoint-url", moto, "--endpoint-url", live.url, "--poll-s", "0.5"],
        capture_output=True, text=True, env={**os.environ, **FAKE_AWS_ENV}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "uploading" in done.stderr and "FaceSearch" in done.stderr  # upload note and progress bar
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["person", "who", "from", "(s)", "to", "(s)", "best", "similarity"]
    rows = [line.split() for line in lines[1:]]
    assert {row[1] for row in rows} == set(PERFORMERS)
    lin = max((row for row in rows if row[1] == "lin-manuel-miranda"), key=lambda r: float(r[3]) - float(r[2]))
    assert float(lin[2]) == pytest.approx(3.0, abs=0.7) and float(lin[3]) == pytest.approx(7.0, abs=0.7)
    assert all(float(row[4]) >= 80 for row in rows)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    assert s3.head_object(Bucket=BUCKET, Key="uploaded/clip.mp4")["ContentLength"] == (facedata_video / CLIP).stat().st_size


def test_cli_usage_errors(live: LiveServer, facedata_video: Path) -> None:
    base = [sys.executable, "-m", "rekog_compat", "video", "search", "--collection-id", COLLECTION,
            "--endpoint-url", live.url]
    no_bucket = subprocess.run([*base, "--video", str(facedata_video / CLIP)], capture_output=True, text=True,
                               timeout=60)
    assert no_bucket.returncode == 2 and "needs --bucket" in no_bucket.stderr
    missing = subprocess.run([*base, "--video", "s3://videos/missing.mp4", "--no-progress"], capture_output=True,
                             text=True, env={**os.environ, **FAKE_AWS_ENV}, timeout=60)
    assert missing.returncode == 1 and "InvalidS3ObjectException" in missing.stderr, missing.stderr


def test_report_compares_two_targets(live: LiveServer, rekognition: Any, tmp_path: Path) -> None:
    """The same server as two targets (two clients): both timelines name the performers and agree in time."""
    a = boto3.client("rekognition", endpoint_url=live.url, region_name="us-east-1")
    b = boto3.client("rekognition", endpoint_url=live.url, region_name="us-east-1")
    report = compare_video_search(a, b, video_a={"Bucket": BUCKET, "Name": CLIP}, collection_a=COLLECTION,
                                  label_a="first", label_b="second", out=tmp_path, poll_s=0.5, progress=False)
    sides = report["sides"]
    assert sides["a"]["job_id"] != sides["b"]["job_id"]
    for key in ("a", "b"):
        assert sides[key]["job_status"] == "SUCCEEDED" and sides[key]["wall_seconds"] > 0
        timeline = [video.Appearance(t["PersonIndex"], t["Who"], [(r["FromMillis"], r["ToMillis"]) for r in t["Ranges"]],
                                     t["BestSimilarity"], t["MatchedFrames"]) for t in sides[key]["timeline"]]
        check_performers(timeline)
    assert [i["who"] for i in report["identities"]] == sorted(PERFORMERS)
    for identity in report["identities"]:  # one server, one video: the same answer twice
        assert identity["time_agreement"] == 1.0
        assert identity["sides"]["a"]["appearances"] == identity["sides"]["b"]["appearances"]
    assert json.loads((tmp_path / "video.json").read_text())["identities"] == report["identities"]
    page = (tmp_path / "video.html").read_text()
    assert "lin-manuel-miranda" in page and "<script" not in page and "first" in page and "second" in page
    text = format_side_by_side(report)
    assert "first: SUCCEEDED" in text and "100%" in text and "lin-manuel-miranda" in text
