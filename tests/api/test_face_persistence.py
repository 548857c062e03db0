"""Faces survive a restart and a kill -9: what IndexFaces, DeleteFaces, CreateUser or AssociateFaces
acknowledged holds. On both stores: SQLite (a data dir) and PostgreSQL + pgvector (a fresh database)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from harness.live_server import LiveServer
from harness.postgres import ENV_VAR, fresh_database
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.pg_integrity import Summary, check_postgres_store
from tests.support.postgres import postgres_server_url  # noqa: F401 (a fixture)

DIMENSIONS = 128  # the default model's (Dlib) embedding size


@dataclass
class Backend:
    """The store a test's servers run on, and its integrity check (run while no server runs)."""

    name: str
    store_url: str | None = None

    def server(self, data_dir: Path) -> LiveServer:
        return LiveServer(data_dir, *(("--store", self.store_url) if self.store_url else ()))

    def check_integrity(self, data_dir: Path) -> Summary | None:
        """Asserts the store is sound; what it holds, where the check counts it (PostgreSQL)."""
        if self.store_url is None:
            with sqlite3.connect(data_dir / "rekog-compat.sqlite3") as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return None
        summary = check_postgres_store(self.store_url, DIMENSIONS)
        assert summary.amcheck or ENV_VAR in os.environ, "amcheck ships with the embedded server"
        return summary


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    facedata_dir()  # skip before starting anything when the photos are absent
    if request.param == "sqlite":
        yield Backend("sqlite")
        return
    server_url = request.getfixturevalue("postgres_server_url")
    with fresh_database(server_url) as url:
        yield Backend("postgresql", url)


def gallery() -> list[tuple[str, bytes]]:
    root = facedata_dir() / "lfw_tiny"
    return [(p.parent.name + "-" + p.stem[-4:], p.read_bytes()) for p in sorted(root.glob("*/*.jpg"))]


def listed_faces(client: Any, collection: str) -> dict[str, dict[str, Any]]:
    pages = client.get_paginator("list_faces").paginate(CollectionId=collection)
    return {f["FaceId"]: f for page in pages for f in page["Faces"]}


def all_faces(client: Any, collection: str) -> dict[str, str]:
    return {face_id: f["ExternalImageId"] for face_id, f in listed_faces(client, collection).items()}


def test_faces_survive_a_restart_and_stay_searchable(backend, tmp_path, validated_operations):
    data_dir = tmp_path / "data"
    photos = gallery()[:6]
    first = backend.server(data_dir).start(timeout=120)
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

    second = backend.server(data_dir).start(timeout=120)
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
    stored = backend.check_integrity(data_dir)
    assert stored is None or (stored.faces, stored.users_with_faces) == (len(before), 1)


def test_acknowledged_writes_survive_kill_9_during_a_stream_from_4_clients(backend, tmp_path, validated_operations):
    """Writers 0 and 2 index a photo, then delete the face; writers 1 and 3 index one, then make a user for
    its person (if none yet) and associate the face with it. kill -9 mid-stream, restart: every write
    acknowledged holds, and a write cut short by the kill (sent, never answered) either did or did not."""
    data_dir = tmp_path / "data"
    photos = gallery()
    server = backend.server(data_dir).start(timeout=120)
    client = make_client(server.url, validated_operations)
    client.create_collection(CollectionId="stream")
    sent: set[str] = set()  # ExternalImageIds of every IndexFaces sent
    acknowledged: dict[str, str] = {}  # FaceId -> ExternalImageId
    deleting: set[str] = set()  # DeleteFaces sent, not answered
    deleted: set[str] = set()
    creating: set[str] = set()  # CreateUser sent, not answered
    users: set[str] = set()  # created, or known to exist (ConflictException)
    associating: dict[str, str] = {}  # FaceId -> UserId: AssociateFaces sent, not answered
    associated: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        own = make_client(server.url, validated_operations)
        for name, data in photos[worker::4]:
            if stop.is_set():
                return
            try:
                with lock:
                    sent.add(name)
                records = own.index_faces(
                    CollectionId="stream", Image={"Bytes": data}, ExternalImageId=name, MaxFaces=1
                )["FaceRecords"]
                with lock:
                    acknowledged.update({r["Face"]["FaceId"]: name for r in records})
                if not records:
                    continue
                face_id = records[0]["Face"]["FaceId"]
                if worker % 2 == 0:
                    with lock:
                        deleting.add(face_id)
                    reply = own.delete_faces(CollectionId="stream", FaceIds=[face_id])
                    reply["UnsuccessfulFaceDeletions"]  # always there: a KeyError is a reply cut short
                    with lock:
                        deleting.discard(face_id)
                        if reply.get("DeletedFaces") == [face_id]:
                            deleted.add(face_id)
                    continue
                person = name.rsplit("-", 1)[0]
                with lock:
                    creating.add(person)
                try:
                    own.create_user(CollectionId="stream", UserId=person)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConflictException":  # made by the other writer
                        raise
                with lock:
                    creating.discard(person)
                    users.add(person)
                    associating[face_id] = person
                done = own.associate_faces(CollectionId="stream", UserId=person, FaceIds=[face_id])
                done_ids = [f["FaceId"] for f in done["AssociatedFaces"]]  # a KeyError is a reply cut short
                with lock:
                    del associating[face_id]
                    if done_ids == [face_id]:
                        associated[face_id] = person
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
    assert deleted and associated, "the stream should have deleted and associated faces before the kill"
    stored = backend.check_integrity(data_dir)

    again = backend.server(data_dir).start(timeout=120)
    try:
        client = make_client(again.url, validated_operations)
        faces = listed_faces(client, "stream")
        present = {face_id: f["ExternalImageId"] for face_id, f in faces.items()}
        for face_id, name in acknowledged.items():
            if face_id in deleted:
                assert face_id not in present, f"deleted face {face_id} came back"
            elif face_id in deleting:
                assert present.get(face_id, name) == name  # its delete was cut short: either way
            else:
                assert present.get(face_id) == name, f"acknowledged face {face_id} ({name}) was lost"
        unanswered = {face_id: name for face_id, name in present.items() if face_id not in acknowledged}
        assert set(unanswered.values()) <= sent, f"faces nobody sent: {unanswered}"
        assert len(unanswered) <= 4, f"more faces than IndexFaces calls cut short: {unanswered}"
        for face_id, face in faces.items():
            owner = face.get("UserId")
            if face_id in associated:
                assert owner == associated[face_id], f"acknowledged association of {face_id} was lost"
            elif face_id in associating:
                assert owner in (None, associating[face_id])
            else:
                assert owner is None, f"face {face_id} belongs to {owner}, never acknowledged"
        pages = client.get_paginator("list_users").paginate(CollectionId="stream")
        status = {u["UserId"]: u["UserStatus"] for page in pages for u in page["Users"]}
        assert users <= set(status), f"acknowledged users lost: {users - set(status)}"
        assert set(status) <= users | creating, f"users nobody made: {set(status) - users - creating}"
        for user, user_status in status.items():
            own = {f["FaceId"] for f in client.list_faces(CollectionId="stream", UserId=user)["Faces"]}
            assert own == {face_id for face_id, f in faces.items() if f.get("UserId") == user}, user
            assert user_status == ("ACTIVE" if own else "CREATED"), user
        description = client.describe_collection(CollectionId="stream")
        assert description["FaceCount"] == len(present)
        assert description["UserCount"] == len(status)
        if stored is not None:  # what the database held after the kill is what the restarted server serves
            assert stored.faces == len(present)
            assert stored.users_with_faces == sum(s == "ACTIVE" for s in status.values())

        # Searches see every stored face and no deleted one: at threshold 0 a search returns the whole collection.
        photo = dict(photos)
        probe = min(associated)  # never deleted (a face of a user cannot be)
        matches = client.search_faces_by_image(
            CollectionId="stream", Image={"Bytes": photo[present[probe]]}, FaceMatchThreshold=0, MaxFaces=4096
        )["FaceMatches"]
        found = [m["Face"]["FaceId"] for m in matches]
        assert not set(found) & deleted, f"a search found deleted faces {set(found) & deleted}"
        assert len(found) == len(set(found)) and set(found) == set(present)
        assert found[0] == probe and matches[0]["Similarity"] > 99
        by_face = client.search_faces(CollectionId="stream", FaceId=probe, FaceMatchThreshold=0, MaxFaces=4096)
        assert {m["Face"]["FaceId"] for m in by_face["FaceMatches"]} == set(present) - {probe}
        for face_id in deleted:
            with pytest.raises(ClientError) as refused:
                client.search_faces(CollectionId="stream", FaceId=face_id)
            assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
        user_matches = client.search_users_by_image(
            CollectionId="stream", Image={"Bytes": photo[present[probe]]}, UserMatchThreshold=0, MaxUsers=500
        )["UserMatches"]
        assert [m["User"]["UserId"] for m in user_matches][:1] == [associated[probe]]
        assert {m["User"]["UserId"] for m in user_matches} == {u for u, s in status.items() if s == "ACTIVE"}
    finally:
        again.stop()
