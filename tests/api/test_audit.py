"""The audit log: every face call leaves a chained record; tampering and kill -9 are detected or survived."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"


def photo(relative: str) -> bytes:
    return (facedata_dir() / relative).read_bytes()


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def audit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rekog_compat", "audit", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A server that has run every audited operation once; (its audit file, request ids by operation, data)."""
    data_dir = tmp_path_factory.mktemp("audited")
    server = LiveServer(data_dir).start()
    client = make_client(server.url, [], access_key="111122223333")
    group, pamela = photo(GROUP), photo("lfw_tiny/Pamela_Anderson/Pamela_Anderson_0001.jpg")
    ids: dict[str, str] = {}

    def call(name: str, **kwargs):
        response = getattr(client, name)(**kwargs)
        ids[name] = response["ResponseMetadata"]["RequestId"]
        return response

    try:
        client.create_collection(CollectionId="audited")
        faces = call("index_faces", CollectionId="audited", Image={"Bytes": group}, ExternalImageId="group")
        face_ids = [r["Face"]["FaceId"] for r in faces["FaceRecords"]]
        call("list_faces", CollectionId="audited")
        call("search_faces", CollectionId="audited", FaceId=face_ids[0], FaceMatchThreshold=0)
        call("search_faces_by_image", CollectionId="audited", Image={"Bytes": group}, FaceMatchThreshold=50)
        call("compare_faces", SourceImage={"Bytes": pamela}, TargetImage={"Bytes": group})
        call("detect_faces", Image={"Bytes": group})
        call("create_user", CollectionId="audited", UserId="someone")
        call("associate_faces", CollectionId="audited", UserId="someone", FaceIds=face_ids[:1])
        call("list_users", CollectionId="audited")
        call("search_users", CollectionId="audited", FaceId=face_ids[0])
        call("search_users_by_image", CollectionId="audited", Image={"Bytes": group})
        call("disassociate_faces", CollectionId="audited", UserId="someone", FaceIds=face_ids[:1])
        call("delete_user", CollectionId="audited", UserId="someone")
        call("delete_faces", CollectionId="audited", FaceIds=face_ids[-1:])
        with pytest.raises(ClientError) as excinfo:
            client.search_faces_by_image(CollectionId="missing", Image={"Bytes": group})
        ids["failed"] = excinfo.value.response["ResponseMetadata"]["RequestId"]
        call("delete_collection", CollectionId="audited")
    finally:
        server.stop()
    return data_dir / "audit.jsonl", ids, {"group": group, "pamela": pamela, "face_ids": face_ids}


def test_every_face_operation_leaves_one_record(audited):
    path, ids, _ = audited
    by_request = {r["request_id"]: r for r in records(path)}
    for name, request_id in ids.items():
        assert request_id in by_request, name
    operations = {r["operation"] for r in records(path)}
    assert operations >= {
        "IndexFaces", "ListFaces", "SearchFaces", "SearchFacesByImage", "CompareFaces", "DetectFaces", "CreateUser",
        "AssociateFaces", "ListUsers", "SearchUsers", "SearchUsersByImage", "DisassociateFaces", "DeleteUser",
        "DeleteFaces", "DeleteCollection",
    }
    assert "CreateCollection" not in operations  # no face is read or changed


def test_records_say_who_what_with_which_threshold_and_the_image_hash(audited):
    path, ids, data = audited
    by_request = {r["request_id"]: r for r in records(path)}
    search = by_request[ids["search_faces_by_image"]]
    assert search["account"] == "111122223333" and search["access_key_id"] == "111122223333"
    assert search["source_ip"] == "127.0.0.1" and search["collection"] == "audited" and search["result"] == "OK"
    assert search["threshold"] == {"member": "FaceMatchThreshold", "asked": 50.0, "applied": 50.0}
    assert search["max_results"] == {"member": "MaxFaces", "asked": None, "applied": 4096}
    assert search["image_sha256"] == {"image": hashlib.sha256(data["group"]).hexdigest()}
    assert search["matched"] == len(search["matches"]) >= 1
    assert {"FaceId", "ExternalImageId", "Similarity"} <= set(search["matches"][0])
    compare = by_request[ids["compare_faces"]]
    assert compare["image_sha256"] == {"source": hashlib.sha256(data["pamela"]).hexdigest(),
                                       "target": hashlib.sha256(data["group"]).hexdigest()}
    assert compare["threshold"]["applied"] == 80.0
    assert by_request[ids["failed"]]["result"] == "ResourceNotFoundException"
    indexed = by_request[ids["index_faces"]]
    assert {m["FaceId"] for m in indexed["matches"]} == set(data["face_ids"])
    text = path.read_text()
    assert "/9j/" not in text and len(text) < 100_000  # no image (base64 JPEG) in the log


def test_verify_accepts_the_intact_chain(audited):
    path, _, _ = audited
    result = audit_cli("verify", str(path))
    assert result.returncode == 0, result.stdout
    assert "chain intact" in result.stdout


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "insert"])
def test_verify_finds_the_first_tampered_record(audited, tmp_path, tamper):
    path, _, _ = audited
    lines = path.read_text().splitlines(keepends=True)
    if tamper == "edit":
        lines[3] = lines[3].replace('"OK"', '"ResourceNotFoundException"')
    elif tamper == "delete":
        del lines[3]
    elif tamper == "reorder":
        lines[3], lines[4] = lines[4], lines[3]
    else:
        lines.insert(3, lines[2])
    forged = tmp_path / "forged.jsonl"
    forged.write_text("".join(lines))
    result = audit_cli("verify", str(forged))
    assert result.returncode == 1
    # An edited line is caught by the next one, which no longer carries its hash.
    assert f"line {5 if tamper == 'edit' else 4}" in result.stdout


def test_query_filters_by_operation_collection_and_face(audited):
    path, ids, data = audited
    result = audit_cli("query", str(path), "--operation", "SearchFaces", "--collection", "audited")
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["request_id"] for r in found] == [ids["search_faces"]]
    by_face = [json.loads(line) for line in audit_cli("query", str(path), "--face-id", data["face_ids"][0]).stdout.splitlines()]
    assert {r["operation"] for r in by_face} >= {"IndexFaces", "SearchFaces", "AssociateFaces"}
    none = audit_cli("query", str(path), "--since", "2999-01-01T00:00:00+00:00")
    assert none.returncode == 0 and none.stdout == ""


def test_acknowledged_calls_survive_kill_9_and_the_chain_continues(tmp_path):
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir).start()
    client = make_client(server.url, [])
    acknowledged = [
        client.detect_faces(Image={"Bytes": photo(GROUP)})["ResponseMetadata"]["RequestId"] for _ in range(3)
    ]
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    logged = {r["request_id"] for r in records(data_dir / "audit.jsonl")}
    assert set(acknowledged) <= logged
    again = LiveServer(data_dir).start()
    try:
        make_client(again.url, []).detect_faces(Image={"Bytes": photo(GROUP)})
    finally:
        again.stop()
    assert len(records(data_dir / "audit.jsonl")) == 4
    assert audit_cli("verify", str(data_dir / "audit.jsonl")).returncode == 0


def test_a_log_that_cannot_be_written_fails_the_call_unless_told_to_continue(tmp_path):
    strict = LiveServer(tmp_path / "strict", "--audit-log", "/dev/full").start()
    try:
        with pytest.raises(ClientError) as excinfo:
            make_client(strict.url, []).detect_faces(Image={"Bytes": photo(GROUP)})
        assert excinfo.value.response["Error"]["Code"] == "InternalServerError"
        assert "audit" in excinfo.value.response["Error"]["Message"]
    finally:
        strict.stop()
    lenient = LiveServer(tmp_path / "lenient", "--audit-log", "/dev/full", "--audit-failure", "continue").start()
    try:
        assert len(make_client(lenient.url, []).detect_faces(Image={"Bytes": photo(GROUP)})["FaceDetails"]) == 6
    finally:
        lenient.stop()


def test_threshold_policy_raises_low_thresholds_and_says_so(tmp_path):
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, "--min-match-threshold", "99").start()
    try:
        client = make_client(server.url, [])
        client.create_collection(CollectionId="policy")
        people = sorted((facedata_dir() / "lfw_tiny").glob("*/*_0001.jpg"))[:12]
        for path in people:
            client.index_faces(CollectionId="policy", Image={"Bytes": path.read_bytes()}, ExternalImageId=path.stem)
        probe = {"Bytes": (facedata_dir() / "lfw_tiny/Benjamin_Netanyahu/Benjamin_Netanyahu_0002.jpg").read_bytes()}
        at_50 = client.search_faces_by_image(CollectionId="policy", Image=probe, FaceMatchThreshold=50)
        at_99 = client.search_faces_by_image(CollectionId="policy", Image=probe, FaceMatchThreshold=99)
        assert at_50["FaceMatches"] == at_99["FaceMatches"]
        assert all(m["Similarity"] >= 99 for m in at_50["FaceMatches"])
        request_id = at_50["ResponseMetadata"]["RequestId"]
    finally:
        server.stop()
    record = next(r for r in records(data_dir / "audit.jsonl") if r["request_id"] == request_id)
    assert record["threshold"] == {"member": "FaceMatchThreshold", "asked": 50.0, "applied": 99.0}
