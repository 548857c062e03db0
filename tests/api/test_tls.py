"""`serve --tls-cert --tls-key`: the server speaks HTTPS itself, to boto3 that checks its certificate, with
one worker or several; plain HTTP gets an AWS refusal in the clear, and clients that do not trust the
certificate get no answer; a missing, unreadable, invalid or mismatched file stops the start with a message
naming it (exit status 2)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, SSLError

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.tls import CertFiles, self_signed_cert

KEYS = {"AKIDTLS": {"secret": "secret", "account": "111122223333"}}  # make_client signs with "secret"


def https_server(folder: Path, cert: CertFiles, *extra: str) -> LiveServer:
    """A server with TLS and SigV4 verification on: signatures made over https must verify."""
    (folder / "credentials.json").write_text(json.dumps(KEYS))
    return LiveServer(
        folder / "data", *cert.serve_args(), "--credentials", str(folder / "credentials.json"), *extra
    ).start(timeout=120)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, CertFiles]]:
    folder = tmp_path_factory.mktemp("tls")
    cert = self_signed_cert(folder / "cert")
    server = https_server(folder, cert)
    yield server, cert
    assert server.stop() == 0


def face_calls(client: Any) -> None:
    """A round of calls whose answers make_client checks against their output shapes."""
    photos = sorted((facedata_dir() / "lfw_tiny").glob("*/*_0001.jpg"))[:2]
    client.create_collection(CollectionId="over-tls")
    indexed = client.index_faces(
        CollectionId="over-tls", Image={"Bytes": photos[0].read_bytes()}, ExternalImageId=photos[0].stem, MaxFaces=1
    )["FaceRecords"]
    assert len(indexed) == 1
    matches = client.search_faces_by_image(CollectionId="over-tls", Image={"Bytes": photos[0].read_bytes()})
    assert [m["Face"]["FaceId"] for m in matches["FaceMatches"]] == [indexed[0]["Face"]["FaceId"]]
    assert len(client.detect_faces(Image={"Bytes": photos[1].read_bytes()})["FaceDetails"]) == 1
    assert client.list_collections()["CollectionIds"] == ["over-tls"]
    client.delete_collection(CollectionId="over-tls")


def test_boto3_over_https_trusting_the_certificate_gets_validated_answers(tls_server):
    server, cert = tls_server
    assert server.url.startswith("https://")
    assert any(f"listening on {server.url}" in line for line in server.output)
    validated: list[str] = []
    face_calls(make_client(server.url, validated, access_key="AKIDTLS", verify=str(cert.cert)))
    assert {"CreateCollection", "IndexFaces", "SearchFacesByImage", "DetectFaces", "ListCollections"} <= set(validated)
    context = ssl.create_default_context(cafile=str(cert.cert))
    with urllib.request.urlopen(server.url + "/health", timeout=30, context=context) as answer:
        assert json.loads(answer.read())["status"] == "ok"


def test_plain_http_gets_an_aws_refusal_and_clients_not_trusting_the_certificate_get_no_answer(tls_server):
    server, cert = tls_server
    plain = boto3.client(
        "rekognition", endpoint_url=server.url.replace("https://", "http://"), region_name="us-east-1",
        aws_access_key_id="AKIDTLS", aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=30),
    )
    with pytest.raises(ClientError) as refused:  # answered in the clear, in AWS's JSON, and nothing served
        plain.list_collections()
    assert refused.value.response["Error"]["Code"] == "SerializationException"
    assert "plain HTTP" in refused.value.response["Error"]["Message"]
    untrusting = make_client(server.url, [], access_key="AKIDTLS")  # the system's CAs do not include ours
    with pytest.raises(SSLError):
        untrusting.list_collections()
    other = self_signed_cert(Path(str(cert.cert.parent)) / "other", name="other")
    with pytest.raises(SSLError):
        make_client(server.url, [], access_key="AKIDTLS", verify=str(other.cert)).list_collections()
    # The refused connections did not hurt the server.
    trusting = make_client(server.url, [], access_key="AKIDTLS", verify=str(cert.cert))
    assert trusting.list_collections()["CollectionIds"] == []
    with pytest.raises(ClientError) as unsigned:  # and TLS does not replace signatures: a wrong secret is refused
        boto3.client(
            "rekognition", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDTLS",
            aws_secret_access_key="wrong", verify=str(cert.cert), config=Config(retries={"total_max_attempts": 1}),
        ).list_collections()
    assert unsigned.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_https_with_two_workers(tmp_path):
    cert = self_signed_cert(tmp_path / "cert")
    server = https_server(tmp_path, cert, "--workers", "2", "--threads", "2")
    try:
        assert server.url.startswith("https://")
        validated: list[str] = []
        face_calls(make_client(server.url, validated, access_key="AKIDTLS", verify=str(cert.cert)))
        assert "IndexFaces" in validated
    finally:
        assert server.stop() == 0
    assert "".join(server.output).count("Booting worker with pid") == 2


def serve_fails(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Start `serve` with `args`; it must exit 2 at once. Its error output."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REKOG_COMPAT_TLS_")}
    done = subprocess.run(
        [sys.executable, "-m", "rekog_compat", "serve", "--port", "0", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60, env={**environment, **(env or {})}, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "listening on" not in done.stdout
    return done.stderr


def test_a_certificate_without_its_key_or_a_key_without_its_certificate_stops_the_start(tmp_path):
    cert = self_signed_cert(tmp_path / "cert")
    assert "--tls-cert needs --tls-key" in serve_fails(tmp_path, "--tls-cert", str(cert.cert))
    assert "--tls-key needs --tls-cert" in serve_fails(tmp_path, "--tls-key", str(cert.key))
    from_env = serve_fails(tmp_path, env={"REKOG_COMPAT_TLS_CERT": str(cert.cert)})
    assert "--tls-cert needs --tls-key too (or REKOG_COMPAT_TLS_KEY)" in from_env


def test_missing_invalid_mismatched_or_encrypted_files_stop_the_start_naming_them(tmp_path):
    from cryptography.hazmat.primitives import serialization

    cert = self_signed_cert(tmp_path / "cert")
    other = self_signed_cert(tmp_path / "other")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    key = serialization.load_pem_private_key(cert.key.read_bytes(), password=None)
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    ))

    def fails(cert_file: Path, key_file: Path) -> str:
        return serve_fails(tmp_path, "--tls-cert", str(cert_file), "--tls-key", str(key_file))

    assert f"--tls-cert {tmp_path / 'nope.pem'}: cannot be read" in fails(tmp_path / "nope.pem", cert.key)
    assert f"--tls-cert {junk}: not a PEM file with a certificate" in fails(junk, cert.key)
    assert f"--tls-key {cert.cert}: not a PEM file with a private key" in fails(cert.cert, cert.cert)
    assert f"--tls-key {other.key} is not the private key of --tls-cert {cert.cert}" in fails(cert.cert, other.key)
    assert f"--tls-key {encrypted}: the key is encrypted" in fails(cert.cert, encrypted)
    assert "cannot start" in fails(tmp_path, cert.key)
