"""With a credentials file, every request's SigV4 signature is verified, as AWS does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness.live_server import LiveServer

KEYS = {
    "AKIDALICE": {"secret": "alice-secret", "account": "111111111111", "owner": "alice"},
    "AKIDBOB": {"secret": "bob-secret", "account": "222222222222"},
}
TARGET = "RekognitionService.ListCollections"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    folder = tmp_path_factory.mktemp("secured")
    (folder / "credentials.json").write_text(json.dumps(KEYS))
    server = LiveServer(folder / "data", "--credentials", str(folder / "credentials.json")).start()
    yield server
    server.stop()


def client(server: LiveServer, key: str, secret: str):
    return boto3.client(
        "rekognition", endpoint_url=server.url, region_name="eu-west-1", aws_access_key_id=key,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}),
    )


def signed_request(server: LiveServer, key: str, secret: str, when: datetime, body: bytes = b"{}") -> AWSRequest:
    """A request signed as botocore signs, but at a chosen time."""
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET,
    })
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    signer = SigV4Auth(Credentials(key, secret), "rekognition", "eu-west-1")
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{signer.credential_scope(request)}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return request


def send(server: LiveServer, headers: dict[str, str], body: bytes = b"{}") -> tuple[int, dict]:
    request = urllib.request.Request(server.url + "/", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_correctly_signed_request_is_served_in_its_keys_account(secured):
    alice = client(secured, "AKIDALICE", "alice-secret")
    arn = alice.create_collection(CollectionId="alices")["CollectionArn"]
    assert ":111111111111:" in arn and ":eu-west-1:" in arn
    from tests.support.facedata import facedata_dir

    face = (facedata_dir() / "lfw_tiny/Pamela_Anderson/Pamela_Anderson_0001.jpg").read_bytes()
    assert alice.detect_faces(Image={"Bytes": face})["FaceDetails"]  # a large signed body verifies
    bob = client(secured, "AKIDBOB", "bob-secret")
    assert bob.list_collections()["CollectionIds"] == []
    with pytest.raises(ClientError) as excinfo:
        bob.describe_collection(CollectionId="alices")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_wrong_secret_is_an_invalid_signature(secured):
    with pytest.raises(ClientError) as excinfo:
        client(secured, "AKIDALICE", "not-her-secret").list_collections()
    error = excinfo.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSignatureException", 403)
    assert error["Error"]["Message"].startswith("The request signature we calculated does not match")


def test_an_unknown_key_is_unrecognized(secured):
    with pytest.raises(ClientError) as excinfo:
        client(secured, "AKIDMALLORY", "whatever").list_collections()
    error = excinfo.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("UnrecognizedClientException", 403)


def test_no_authorization_is_a_missing_token(secured):
    status, body = send(secured, {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET})
    assert (status, body["__type"], body["Message"]) == (403, "MissingAuthenticationTokenException",
                                                         "Missing Authentication Token")


@pytest.mark.parametrize("minutes", [-10, 10])
def test_a_signature_more_than_5_minutes_off_is_refused(secured, minutes):
    request = signed_request(secured, "AKIDALICE", "alice-secret", datetime.now(UTC) + timedelta(minutes=minutes))
    status, body = send(secured, dict(request.headers.items()))
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    assert body["Message"].startswith("Signature expired" if minutes < 0 else "Signature not yet current")


def test_a_signature_within_the_skew_and_a_body_changed_after_signing(secured):
    request = signed_request(secured, "AKIDALICE", "alice-secret", datetime.now(UTC) - timedelta(minutes=2))
    status, body = send(secured, dict(request.headers.items()))
    assert status == 200 and "CollectionIds" in body
    status, body = send(secured, dict(request.headers.items()), body=b'{"MaxResults": 1}')
    assert (status, body["__type"]) == (403, "InvalidSignatureException")


def test_a_malformed_authorization_header_is_an_incomplete_signature(secured):
    status, body = send(secured, {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDALICE",
                                  "X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"})
    assert (status, body["__type"]) == (400, "IncompleteSignatureException")
