"""`serve --workers 2`: two processes, one store; every worker sees every acknowledged write."""

from __future__ import annotations

import re
import subprocess
import sys

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir


def test_two_workers_share_writes_searches_and_one_audit_chain(tmp_path):
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, "--workers", "2", "--threads", "2").start(timeout=120)
    try:
        client = make_client(server.url, [])
        client.create_collection(CollectionId="shared")
        photos = sorted((facedata_dir() / "lfw_tiny").glob("*/*_0001.jpg"))[:6]
        for photo in photos:
            face_ids = [r["Face"]["FaceId"] for r in client.index_faces(
                CollectionId="shared", Image={"Bytes": photo.read_bytes()}, ExternalImageId=photo.stem, MaxFaces=1
            )["FaceRecords"]]
            # Right after the write returns, every search (whichever worker serves it) finds the face.
            for _ in range(4):
                top = client.search_faces_by_image(
                    CollectionId="shared", Image={"Bytes": photo.read_bytes()}, MaxFaces=1
                )["FaceMatches"]
                assert [m["Face"]["FaceId"] for m in top] == face_ids
        deleted = face_ids[0]
        client.delete_faces(CollectionId="shared", FaceIds=[deleted])
        for _ in range(4):
            matches = client.search_faces_by_image(
                CollectionId="shared", Image={"Bytes": photos[-1].read_bytes()}, FaceMatchThreshold=0
            )["FaceMatches"]
            assert deleted not in {m["Face"]["FaceId"] for m in matches}
        assert client.describe_collection(CollectionId="shared")["FaceCount"] == len(photos) - 1
    finally:
        assert server.stop() == 0
    pids = set(re.findall(r"Booting worker with pid: (\d+)", "".join(server.output)))
    assert len(pids) == 2, "".join(server.output)
    verify = subprocess.run([sys.executable, "-m", "rekog_compat", "audit", "verify", str(data_dir / "audit.jsonl")],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout
