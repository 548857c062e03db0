"""The AWS side without a network: where `connect()` sends requests, and what the helpers ask and understand.

Requests are intercepted at botocore's `before-send` (after signing, so URL and credential scope are
the real ones) or answered by `botocore.stub.Stubber`, with the response bodies botocore ships as
Rekognition's documented examples wherever one fits.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rekog_sdk
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.loaders import create_loader
from botocore.stub import Stubber
from rekog_sdk import backoff

from rekog_compat import cli

EXAMPLES: dict[str, list[dict[str, Any]]] = create_loader().load_service_model("rekognition", "examples-1")["examples"]
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def example(operation: str) -> dict[str, Any]:
    """A deep copy of botocore's first documented example of `operation` ({"input": ..., "output": ...})."""
    return copy.deepcopy(EXAMPLES[operation][0])


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, profile or region from this machine, and no instance-metadata lookups."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
        "REKOG_COMPAT_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(no_aws_config: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials in the environment, as a user's would be."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


@pytest.fixture
def aws(aws_env: None) -> Any:
    return rekog_sdk.connect("aws", region="eu-west-1")


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the delays botocore and rekog_sdk ask for instead of waiting them."""
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    return delays


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def intercept(client: Any, status: int = 200, body: dict[str, Any] | None = None) -> list[Any]:
    """Answer every request of `client` locally after it is signed; returns the list of requests sent."""
    sent: list[Any] = []

    def send(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        payload = json.dumps(body or {}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "stub"}
        return AWSResponse(request.url, status, headers, _Body(payload))

    client.meta.events.register("before-send", send)
    return sent


def header(request: Any, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- connect -------------------------------------------------------------------------------------


def test_connect_aws_sends_signed_requests_to_the_regional_endpoint(aws):
    assert aws.meta.endpoint_url == "https://rekognition.eu-west-1.amazonaws.com"
    assert aws.meta.region_name == "eu-west-1"
    # botocore turns connect()'s 5 retries into 6 attempts in all
    assert aws.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}

    sent = intercept(aws, body=example("ListCollections")["output"])
    assert aws.list_collections()["CollectionIds"] == ["myphotos"]
    (request,) = sent
    assert request.url == "https://rekognition.eu-west-1.amazonaws.com/"
    assert header(request, "X-Amz-Target") == "RekognitionService.ListCollections"
    assert f"Credential={AWS_KEY}/" in header(request, "Authorization")
    assert "/eu-west-1/rekognition/aws4_request" in header(request, "Authorization")


def test_connect_aws_retries_throttling_in_standard_mode(aws, no_sleep):
    sent = intercept(aws, status=400, body={"__type": "ThrottlingException", "message": "Rate exceeded"})
    with pytest.raises(ClientError) as excinfo:
        aws.list_collections()
    assert excinfo.value.response["Error"]["Code"] == "ThrottlingException"
    assert len(sent) == 6 and len(no_sleep) == 5  # 6 attempts, a backoff before each retry


def test_connect_local_uses_the_endpoint_and_dummy_credentials_when_none_are_configured(no_aws_config):
    client = rekog_sdk.connect("local", endpoint_url="http://10.1.2.3:9090")
    assert client.meta.endpoint_url == "http://10.1.2.3:9090"
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries["mode"] == "standard"
    sent = intercept(client, body={"CollectionIds": []})
    client.list_collections()
    assert sent[0].url == "http://10.1.2.3:9090/"
    # a 12-digit access key is rekog-compat's account id
    assert "Credential=123456789012/" in header(sent[0], "Authorization")


def test_connect_local_reads_the_endpoint_from_the_environment_and_keeps_configured_credentials(
    aws_env, monkeypatch
):
    assert rekog_sdk.connect("local").meta.endpoint_url == "http://127.0.0.1:9090"
    monkeypatch.setenv("REKOG_COMPAT_ENDPOINT_URL", "http://rekog.internal:8080")
    client = rekog_sdk.connect("local", region="eu-central-1")
    assert client.meta.endpoint_url == "http://rekog.internal:8080"
    sent = intercept(client, body={"CollectionIds": []})
    client.list_collections()
    assert f"Credential={AWS_KEY}/" in header(sent[0], "Authorization")  # the user's own, not the dummy
    assert "/eu-central-1/rekognition/" in header(sent[0], "Authorization")
    with pytest.raises(ValueError):
        rekog_sdk.connect("cloud")  # type: ignore[arg-type]


# ---- helpers: the requests they build, the AWS answers they read ----------------------------------


def test_search_image_with_an_s3_url_sends_aws_documented_request(aws):
    doc = example("SearchFacesByImage")
    with Stubber(aws) as stub:
        stub.add_response("search_faces_by_image", doc["output"], expected_params=doc["input"])
        matches = rekog_sdk.search_image(aws, "myphotos", "s3://mybucket/myphoto", threshold=95, max_faces=5)
        stub.assert_no_pending_responses()
    assert matches == doc["output"]["FaceMatches"]


def test_search_image_with_bytes_and_defaults(aws, tmp_path):
    (tmp_path / "probe.jpg").write_bytes(b"\xff\xd8probe")
    doc = example("SearchFacesByImage")
    expected = {"CollectionId": "c1", "Image": {"Bytes": b"\xff\xd8probe"}, "FaceMatchThreshold": 80, "MaxFaces": 10}
    with Stubber(aws) as stub:
        stub.add_response("search_faces_by_image", doc["output"], expected_params=expected)
        stub.add_response("search_faces_by_image", doc["output"], expected_params=expected)
        assert rekog_sdk.search_image(aws, "c1", tmp_path / "probe.jpg")
        assert rekog_sdk.search_image(aws, "c1", b"\xff\xd8probe")
        stub.assert_no_pending_responses()


def test_compare_images_sends_aws_documented_request(aws):
    doc = example("CompareFaces")
    with Stubber(aws) as stub:
        stub.add_response("compare_faces", doc["output"], expected_params=doc["input"])
        result = rekog_sdk.compare_images(aws, "s3://mybucket/mysourceimage", "s3://mybucket/mytargetimage",
                                          threshold=90)
    assert result == doc["output"]  # the response as AWS gives it, less ResponseMetadata


def test_ensure_collection_creates_or_describes(aws):
    doc = example("CreateCollection")
    arn = "arn:aws:rekognition:eu-west-1:123456789012:collection/myphotos"
    described = {"FaceCount": 3, "FaceModelVersion": "7.0", "CollectionARN": arn,
                 "CreationTimestamp": datetime(2024, 1, 2, tzinfo=UTC), "UserCount": 0}
    with Stubber(aws) as stub:
        stub.add_response("create_collection", doc["output"], expected_params=doc["input"])
        stub.add_client_error("create_collection", "ResourceAlreadyExistsException",
                              "The collection id: myphotos already exists", expected_params=doc["input"])
        stub.add_response("describe_collection", described, expected_params={"CollectionId": "myphotos"})
        stub.add_client_error("create_collection", "AccessDeniedException", "User is not authorized",
                              expected_params=doc["input"])
        assert rekog_sdk.ensure_collection(aws, "myphotos") == doc["output"]["CollectionArn"]
        assert rekog_sdk.ensure_collection(aws, "myphotos") == arn
        with pytest.raises(ClientError, match="AccessDeniedException"):
            rekog_sdk.ensure_collection(aws, "myphotos")
        stub.assert_no_pending_responses()


def test_iter_faces_follows_next_tokens_with_the_paginator(aws):
    doc = example("ListFaces")
    first_page = {**doc["output"], "NextToken": "page-2"}
    last_face = copy.deepcopy(doc["output"]["Faces"][0])
    last_face["FaceId"] = "00000000-0000-5000-8000-000000000000"
    with Stubber(aws) as stub:
        stub.add_response("list_faces", first_page, expected_params=doc["input"])
        stub.add_response("list_faces", {"Faces": [last_face]}, expected_params={**doc["input"], "NextToken": "page-2"})
        faces = list(rekog_sdk.iter_faces(aws, "myphotos", page_size=20))
        stub.assert_no_pending_responses()
    assert faces == [*doc["output"]["Faces"], last_face]


def test_iter_collections_follows_next_tokens(aws):
    doc = example("ListCollections")
    with Stubber(aws) as stub:
        stub.add_response("list_collections", {**doc["output"], "NextToken": "t"}, expected_params=doc["input"])
        stub.add_response("list_collections", {"CollectionIds": ["staff"]}, expected_params={"NextToken": "t"})
        assert list(rekog_sdk.iter_collections(aws)) == ["myphotos", "staff"]
        stub.assert_no_pending_responses()


# ---- index_folder against (stubbed) AWS ----------------------------------------------------------


def write_images(root: Path, *relative: str) -> dict[str, bytes]:
    contents = {}
    for name in relative:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        contents[name] = b"\xff\xd8" + name.encode()
        (root / name).write_bytes(contents[name])
    return contents


def test_index_folder_resumes_from_list_faces_and_reads_aws_answers(aws, tmp_path):
    images = write_images(tmp_path, "alice/a1.jpg", "alice/a2.jpg", "bob/b1.jpg")
    # The collection already holds alice's first image (one ImageId, two faces): resume skips it.
    listed = example("ListFaces")["output"]
    for face in listed["Faces"]:
        if face["ImageId"] == "465f4e93-763e-51d0-b030-b9667a2d94b1":
            face["ExternalImageId"] = "alice"
    indexed = example("IndexFaces")
    unindexed = {
        "FaceRecords": [],
        "UnindexedFaces": [{"Reasons": ["LOW_SHARPNESS", "SMALL_BOUNDING_BOX"],
                            "FaceDetail": indexed["output"]["FaceRecords"][0]["FaceDetail"]}],
        "FaceModelVersion": "7.0",
    }
    with Stubber(aws) as stub:
        stub.add_response("list_faces", listed, expected_params={"CollectionId": "myphotos", "MaxResults": 4096})
        stub.add_response("index_faces", indexed["output"], expected_params={
            "CollectionId": "myphotos", "Image": {"Bytes": images["alice/a2.jpg"]}, "ExternalImageId": "alice",
            "MaxFaces": 1,
        })
        stub.add_response("index_faces", unindexed, expected_params={
            "CollectionId": "myphotos", "Image": {"Bytes": images["bob/b1.jpg"]}, "ExternalImageId": "bob",
            "MaxFaces": 1,
        })
        summary = rekog_sdk.index_folder(aws, "myphotos", tmp_path, external_id="folder", workers=1,
                                         progress=False, max_faces=1)
        stub.assert_no_pending_responses()
    assert (summary.total, summary.skipped, summary.indexed, summary.unindexed, summary.failed) == (3, 1, 1, 1, 0)
    assert summary.faces == 2 and summary.skipped_files == ["alice/a1.jpg"]
    assert summary.unindexed_files == {"bob/b1.jpg": ["LOW_SHARPNESS", "SMALL_BOUNDING_BOX"]}
    assert json.loads(json.dumps(summary.to_dict()))["indexed"] == 1


def test_index_folder_gives_no_face_as_the_reason_when_an_image_has_none(aws, tmp_path):
    images = write_images(tmp_path, "landscape.png")
    with Stubber(aws) as stub:
        stub.add_response("list_faces", {"Faces": []})
        stub.add_response("index_faces", {"FaceRecords": [], "UnindexedFaces": []}, expected_params={
            "CollectionId": "c1", "Image": {"Bytes": images["landscape.png"]}, "ExternalImageId": "landscape",
        })
        summary = rekog_sdk.index_folder(aws, "c1", tmp_path, workers=1, progress=False)
    assert summary.unindexed_files == {"landscape.png": ["NO_FACE"]} and summary.unindexed == 1


def test_index_folder_backs_off_on_throttling_beyond_botocore(aws, tmp_path, no_sleep):
    write_images(tmp_path, "a.jpg", "b.jpg", "c.jpg")
    ok = example("IndexFaces")["output"]
    with Stubber(aws) as stub:
        stub.add_response("list_faces", {"Faces": []})
        # a.jpg: throttled twice, then indexed
        stub.add_client_error("index_faces", "ThrottlingException", "Rate exceeded")
        stub.add_client_error("index_faces", "ProvisionedThroughputExceededException", "Slow down", 400)
        stub.add_response("index_faces", ok)
        # b.jpg: throttled past max_retries: failed, with AWS's code and message
        for _ in range(3):
            stub.add_client_error("index_faces", "ThrottlingException", "Rate exceeded")
        # c.jpg: not a throttling error: failed at once, no retry
        stub.add_client_error("index_faces", "InvalidImageFormatException", "Request has invalid image format")
        summary = rekog_sdk.index_folder(aws, "c1", tmp_path, workers=1, progress=False, max_retries=2)
        stub.assert_no_pending_responses()
    assert summary.indexed == 1 and summary.failed == 2
    assert summary.failed_files == {
        "b.jpg": "ThrottlingException: Rate exceeded",
        "c.jpg": "InvalidImageFormatException: Request has invalid image format",
    }
    assert len(no_sleep) == 4 and all(0 < d <= backoff.MAX_DELAY_S for d in no_sleep)


def test_index_folder_stops_before_sending_when_the_collection_is_missing(aws, tmp_path):
    write_images(tmp_path, "a.jpg")
    with Stubber(aws) as stub:
        stub.add_client_error("list_faces", "ResourceNotFoundException", "The collection id: c1 does not exist")
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            rekog_sdk.index_folder(aws, "c1", tmp_path, progress=False)
        stub.assert_no_pending_responses()  # no IndexFaces was attempted


def test_backoff_delays_grow_and_stay_bounded():
    assert 0.5 <= backoff.backoff_delay(0) <= 1.0
    assert 4.0 <= backoff.backoff_delay(3) <= 8.0
    assert backoff.MAX_DELAY_S / 2 <= backoff.backoff_delay(20) <= backoff.MAX_DELAY_S


# ---- the CLI on AWS ------------------------------------------------------------------------------


def test_cli_search_on_aws_prints_matches_and_exits_1_with_aws_errors(aws_env, monkeypatch, capsys):
    doc = example("SearchFacesByImage")
    clients: list[Any] = []

    def stubbed_connect(*args: Any, **kwargs: Any) -> Any:
        client = rekog_sdk.connect(*args, **kwargs)
        stub = Stubber(client)
        stub.add_response("search_faces_by_image", doc["output"], expected_params=doc["input"])
        stub.add_client_error("search_faces_by_image", "ResourceNotFoundException",
                              "The collection id: missing does not exist")
        stub.activate()
        clients.append(client)
        return client

    monkeypatch.setattr("rekog_sdk.cli.connect", stubbed_connect)
    args = ["search", "s3://mybucket/myphoto", "--collection", "myphotos", "--threshold", "95", "--max-faces", "5",
            "--aws", "--region", "eu-west-1"]
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out) == {"FaceMatches": doc["output"]["FaceMatches"]}
    assert clients[0].meta.endpoint_url == "https://rekognition.eu-west-1.amazonaws.com"

    monkeypatch.setattr("rekog_sdk.cli.connect", lambda *a, **k: clients[0])  # its second answer: the error
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "ResourceNotFoundException: The collection id: missing does not exist" in err
