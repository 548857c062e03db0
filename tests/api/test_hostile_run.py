"""A bounded hostile run against a live server: random mixes of broken framing, stalled requests, bad
credential scopes, lying or broken images and malformed bodies, many at once.

Every answer must be AWS's JSON error shape (no 5xx but throttling), parse as that error in botocore and in
the AWS SDK for JavaScript v3, and the server's stored data must be byte-identical before and after.
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.js_sdk import parse_with_js_sdk
from tests.support.raw_http import BROKEN_REQUESTS, Answer, botocore_error_code, exchange, head

RUN_S = 25.0
CLIENTS = 8
READ_TIMEOUT_S = 2.0


def api_call(operation: str, params: dict[str, Any], *extra_headers: str) -> bytes:
    body = json.dumps(params).encode()
    return head(f"RekognitionService.{operation}", *extra_headers) + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def scoped(region: str) -> str:
    return (f"Authorization: AWS4-HMAC-SHA256 Credential=AKIDHOSTILE/20261203/{region}/rekognition/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def lying_images(photo: bytes) -> dict[str, bytes]:
    """Images a hostile client sends: headers that lie, truncations dressed up as whole files, non-images."""
    pos = 2
    while photo[pos + 1] not in (0xC0, 0xC2):
        pos += 2 + struct.unpack(">H", photo[pos + 2 : pos + 4])[0]
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(png, "PNG")
    raw_png = png.getvalue()
    ihdr = struct.pack(">IIBBBBB", 30, 400, 8, 2, 0, 0, 0)
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    return {
        "jpeg declaring 4000x4000": photo[: pos + 5] + struct.pack(">HH", 4000, 4000) + photo[pos + 9 :],
        "truncated jpeg + EOI": photo[: len(photo) // 2] + b"\xff\xd9",
        "truncated jpeg + garbage": photo[: len(photo) // 2] + bytes(range(256)) * 4,
        "png declaring 400 rows": raw_png[:8] + struct.pack(">I", 13) + b"IHDR" + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + raw_png[33:],
        "gif": gif.getvalue(),
        "random bytes": random.Random(0).randbytes(2000),
        "empty": b"",
    }


def hostile_requests(photo: bytes) -> list[bytes]:
    requests = [raw for raw, _, _ in BROKEN_REQUESTS.values()]
    for region in ("x" * 300, "régión-1", "us-east-1; x", "EU-WEST-1"):
        requests.append(api_call("CreateCollection", {"CollectionId": "intruder"}, scoped(region)))
        requests.append(api_call("DeleteCollection", {"CollectionId": "kept"}, scoped(region)))
    for image in lying_images(photo).values():
        encoded = {"Bytes": base64.b64encode(image).decode()}
        requests.append(api_call("IndexFaces", {"CollectionId": "kept", "Image": encoded}))
        requests.append(api_call("SearchFacesByImage", {"CollectionId": "kept", "Image": encoded}))
    for body in (b"{not json", b"[" * 5000 + b"]" * 5000, b'{"CollectionId": NaN}', b'{"CollectionId": "\\ud800"}'):
        requests.append(head("RekognitionService.CreateCollection") + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body)
    requests.append(api_call("DeleteFaces", {"CollectionId": "kept", "FaceIds": ["not-a-uuid"]}))
    requests.append(api_call("CreateCollection", {"CollectionId": "kept"}))  # exists already
    return requests


def snapshot(client: Any) -> bytes:
    """Everything the account holds, as canonical JSON: collections, their faces, users and tags."""
    state = {}
    for collection in client.list_collections()["CollectionIds"]:
        described = client.describe_collection(CollectionId=collection)
        faces = client.list_faces(CollectionId=collection, MaxResults=4096)["Faces"]
        state[collection] = {
            "description": {k: v for k, v in described.items() if k != "ResponseMetadata"},
            "faces": faces,
            "users": client.list_users(CollectionId=collection)["Users"],
            "tags": client.list_tags_for_resource(ResourceArn=described["CollectionARN"])["Tags"],
        }
    return json.dumps(state, sort_keys=True, default=str).encode()


def test_a_hostile_run_answers_only_aws_errors_that_both_sdks_parse_and_changes_nothing(tmp_path, validated_operations):
    photos = sorted((facedata_dir() / "lfw_tiny" / "Pamela_Anderson").glob("*.jpg"))[:3]
    server = LiveServer(tmp_path / "data", "--read-timeout", str(READ_TIMEOUT_S)).start()
    try:
        client = make_client(server.url, validated_operations, access_key="AKIDHOSTILE")  # the default account
        arn = client.create_collection(CollectionId="kept", Tags={"team": "records"})["CollectionArn"]
        client.create_collection(CollectionId="empty")
        face_ids = [client.index_faces(CollectionId="kept", Image={"Bytes": p.read_bytes()}, ExternalImageId=p.stem,
                                       MaxFaces=1)["FaceRecords"][0]["Face"]["FaceId"] for p in photos]
        client.create_user(CollectionId="kept", UserId="pamela")
        client.associate_faces(CollectionId="kept", UserId="pamela", FaceIds=face_ids[:1])
        assert arn
        before = snapshot(client)

        requests = hostile_requests(photos[0].read_bytes())
        rng = random.Random(19)
        deadline = time.monotonic() + RUN_S

        def one() -> list[tuple[bytes, Answer | None]]:
            sent = []
            while time.monotonic() < deadline:
                raw = rng.choice(requests)
                sent.append((raw, exchange(server.url, raw, wait=READ_TIMEOUT_S + 30)))
            return sent

        with ThreadPoolExecutor(CLIENTS) as pool:
            results = [item for future in [pool.submit(one) for _ in range(CLIENTS)] for item in future.result()]
        assert snapshot(client) == before
        assert server.alive()
    finally:
        assert server.stop() == 0, "".join(server.output)

    unanswered = [raw[:80] for raw, answer in results if answer is None]
    assert not unanswered, unanswered
    answers = [answer for _, answer in results if answer is not None]
    assert len(answers) >= 200 and len({raw for raw, _ in results}) == len(requests)
    faults = [a.raw[:200] for a in answers if a.status >= 500 and a.json()["__type"] != "ThrottlingException"]
    assert not faults, faults
    codes = [a.json()["__type"] for a in answers]
    assert all(a.status >= 400 and a.headers["content-type"] == "application/x-amz-json-1.1" for a in answers)
    assert [botocore_error_code(a) for a in answers] == codes
    assert [parsed["name"] for parsed in parse_with_js_sdk(answers)] == codes
    assert {"SerializationException", "RequestTimeoutException", "InvalidSignatureException",
            "InvalidImageFormatException", "ImageTooLargeException", "ResourceAlreadyExistsException"} <= set(codes)
    assert "Traceback" not in "".join(server.output)
