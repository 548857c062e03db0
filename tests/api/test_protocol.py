"""The wire protocol itself: targets, bodies, error documents, request ids, health."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def post(url: str, body: bytes, target: str | None, method: str = "POST", path: str = "/"):
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    req = urllib.request.Request(url + path, data=body if method == "POST" else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def assert_aws_error(status, headers, body, code, expected_status=400):
    assert status == expected_status
    assert body["__type"] == code
    assert body["Code"] == code
    assert body["Message"]
    assert {k.lower() for k in headers} >= {"x-amzn-requestid"}


def test_unknown_target_is_an_unknown_operation(server):
    status, headers, body = post(server.url, b"{}", "RekognitionService.MakeCoffee")
    assert_aws_error(status, headers, body, "UnknownOperationException")


def test_missing_target_is_an_unknown_operation(server):
    status, headers, body = post(server.url, b"{}", None)
    assert_aws_error(status, headers, body, "UnknownOperationException")


def test_other_services_targets_are_unknown_operations(server):
    status, headers, body = post(server.url, b"{}", "DynamoDB_20120810.ListTables")
    assert_aws_error(status, headers, body, "UnknownOperationException")


def test_real_but_unimplemented_operation_is_a_400_naming_it(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_labels(Image={"Bytes": b"\xff\xd8"})
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "UnsupportedOperationException"
    assert "DetectLabels" in response["Error"]["Message"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe\x00", b'"text"'])
def test_malformed_body_is_a_serialization_exception(server, body):
    status, headers, document = post(server.url, body, "RekognitionService.ListCollections")
    assert_aws_error(status, headers, document, "SerializationException")


def test_every_response_carries_a_request_id(server):
    status, headers, _ = post(server.url, b"{}", "RekognitionService.ListCollections")
    assert status == 200
    request_id = {k.lower(): v for k, v in headers.items()}["x-amzn-requestid"]
    assert len(request_id) == 36


def test_request_ids_reach_boto3_response_metadata(rekognition):
    first = rekognition.list_collections()["ResponseMetadata"]["RequestId"]
    second = rekognition.list_collections()["ResponseMetadata"]["RequestId"]
    assert first and second and first != second


def test_wrong_path_or_method_answers_in_aws_json_not_html(server):
    status, headers, body = post(server.url, b"", None, method="GET", path="/nowhere")
    assert_aws_error(status, headers, body, "UnknownOperationException", expected_status=404)
    status, headers, body = post(server.url, b"{}", "RekognitionService.ListCollections", path="/nowhere")
    assert_aws_error(status, headers, body, "UnknownOperationException", expected_status=404)


def test_oversized_body_is_refused_with_an_aws_error(server):
    from rekog_compat.app import MAX_BODY_BYTES

    status, headers, body = post(server.url, b" " * (MAX_BODY_BYTES + 1), "RekognitionService.ListCollections")
    assert_aws_error(status, headers, body, "ImageTooLargeException")


def test_health_reports_version_model_store_and_collection_count(server, rekognition):
    rekognition.create_collection(CollectionId="counted")
    with urllib.request.urlopen(server.url + "/health", timeout=10) as resp:
        health = json.loads(resp.read())
    assert resp.status == 200
    assert health["model"] == "Dlib"
    assert health["store"].startswith("sqlite:")
    assert health["version"]
    assert health["collections"] >= 1


def test_server_keeps_serving_after_bad_requests(server, rekognition):
    for body in (b"{", b"[]", b"null"):
        post(server.url, body, "RekognitionService.CreateCollection")
    assert server.alive()
    rekognition.create_collection(CollectionId="still-alive")
    assert rekognition.list_collections()["CollectionIds"] == ["still-alive"]
