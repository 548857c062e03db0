"""Faces survive a restart and a kill -9: what IndexFaces or DeleteFaces acknowledged holds."""

from __future__ import annotations

import sqlite3
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.live_server import LiveServer


def gallery() -> list[tuple[str, bytes]]:
    root = facedata_dir() / "lfw_tiny"
    return [(p.parent.name + "-" + p.stem[-4:], p.read_bytes()) for p in sorted(root.glob("*/*.jpg"))]


def all_faces(client, collection: str) -> dict[str, str]:
    pages = client.get_paginator("list_faces").paginate(CollectionId=collection)
    return {f["FaceId"]: f["ExternalImageId"] for page in pages for f in page["Faces"]}


def test_faces_survive_a_restart_and_stay_searchable(tmp_path, validated_operations):
    data_dir = tmp_path / "data"
    photos = gallery()[:6]
    first = LiveServer(data_dir).start()
    try:
        client = make_client(first.url, validated_operations)
        client.create_collection(CollectionId="kept")
        for name, data in photos:
            client.index_faces(CollectionId="kept", Image={"Bytes": data}, ExternalImageId=name, MaxFaces=1)
        before = all_faces(client, "kept")
        client.create_user(CollectionId="kept", UserId="first")
        first_faces = [f for f, name in before.items() if name == photos[0][0]]
        client.associate_faces(CollectionId="kept", UserId="first", FaceIds=first_faces)
    finally:
        assert first.stop() == 0

    second = LiveServer(data_dir).start()
    try:
        client = make_client(second.url, validated_operations)
        assert all_faces(client, "kept") == before
        assert {f["FaceId"] for f in client.list_faces(CollectionId="kept", UserId="first")["Faces"]} == set(
            first_faces
        )
        assert client.describe_collection(CollectionId="kept")["FaceCount"] == len(before)
        name, data = photos[0]
        top = client.search_faces_by_image(CollectionId="kept", Image={"Bytes": data}, MaxFaces=1)["FaceMatches"]
        assert top[0]["Face"]["ExternalImageId"] == name and top[0]["Similarity"] > 99
        assert client.list_users(CollectionId="kept")["Users"] == [{"UserId": "first", "UserStatus": "ACTIVE"}]
        assert client.describe_collection(CollectionId="kept")["UserCount"] == 1
        users = client.search_users_by_image(CollectionId="kept", Image={"Bytes": data})["UserMatches"]
        assert [m["User"]["UserId"] for m in users] == ["first"]
    finally:
        second.stop()


def test_acknowledged_writes_survive_kill_9_during_a_stream_from_4_clients(tmp_path, validated_operations):
    data_dir = tmp_path / "data"
    photos = gallery()
    server = LiveServer(data_dir).start()
    client = make_client(server.url, validated_operations)
    client.create_collection(CollectionId="stream")
    acknowledged: dict[str, str] = {}
    deleted: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        own = make_client(server.url, validated_operations)
        for name, data in photos[worker::4]:
            if stop.is_set():
                return
            try:
                records = own.index_faces(
                    CollectionId="stream", Image={"Bytes": data}, ExternalImageId=name, MaxFaces=1
                )["FaceRecords"]
                with lock:
                    acknowledged.update({r["Face"]["FaceId"]: name for r in records})
                if records and worker % 2 == 0:  # half the writers also delete what they just wrote
                    face_id = records[0]["Face"]["FaceId"]
                    if own.delete_faces(CollectionId="stream", FaceIds=[face_id]).get("DeletedFaces"):
                        with lock:
                            deleted.add(face_id)
            except (ClientError, BotoCoreError, KeyError):
                return  # the server is gone (a reply cut short by the kill parses as an empty body)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.process is not None
    server.process.kill()  # kill -9, mid-stream
    server.process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 20

    with sqlite3.connect(data_dir / "rekog-compat.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = LiveServer(data_dir).start()
    try:
        client = make_client(again.url, validated_operations)
        present = all_faces(client, "stream")
        for face_id, name in acknowledged.items():
            if face_id in deleted:
                assert face_id not in present, f"deleted face {face_id} came back"
            else:
                assert present.get(face_id) == name, f"acknowledged face {face_id} ({name}) was lost"
        assert client.describe_collection(CollectionId="stream")["FaceCount"] == len(present)
    finally:
        again.stop()
