"""Do user vectors find people at least as well as single faces? Measured on lfw_dev, over HTTP.

    python -m benchmarks.users

Every person of `lfw_dev` with at least 5 photos: the first 3 (sorted) are indexed into one
collection and associated with a user of that person (UserMatchThreshold 0: the labels are
the truth); every other photo is a probe. Each probe goes through SearchUsersByImage and
SearchFacesByImage; we count how often the top user / the top face's person is right, and,
at Similarity thresholds 80/90/95/99, how often the right person passes and how often a
wrong one does. Probes without a detected face count as misses and are reported.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks.lfw import identity_images
from harness.facedata import facedata_location
from harness.live_server import LiveServer

GALLERY_PER_PERSON = 3
MIN_PHOTOS = 5
THRESHOLDS = (80.0, 90.0, 95.0, 99.0)
COLLECTION = "users-bench"


def client_for(url: str) -> Any:
    return boto3.client(
        "rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}),
    )


def enrol(client: Any, people: dict[str, list[Path]]) -> int:
    """Index each person's gallery photos and associate them with a user; returns faces associated."""
    client.create_collection(CollectionId=COLLECTION)
    associated = 0
    for person, photos in people.items():
        client.create_user(CollectionId=COLLECTION, UserId=person)
        face_ids = []
        for photo in photos[:GALLERY_PER_PERSON]:
            records = client.index_faces(
                CollectionId=COLLECTION, Image={"Bytes": photo.read_bytes()}, ExternalImageId=person,
                MaxFaces=1, QualityFilter="NONE",
            )["FaceRecords"]
            face_ids += [r["Face"]["FaceId"] for r in records]
        if face_ids:
            associated += len(client.associate_faces(
                CollectionId=COLLECTION, UserId=person, FaceIds=face_ids, UserMatchThreshold=0
            )["AssociatedFaces"])
    return associated


def ranked(client: Any, data: bytes) -> tuple[list[tuple[str, float]], list[tuple[str, float]]] | None:
    """(users, faces' persons) with Similarity, best first; None when the probe has no face."""
    try:
        users = client.search_users_by_image(
            CollectionId=COLLECTION, Image={"Bytes": data}, UserMatchThreshold=0, MaxUsers=500
        )
        faces = client.search_faces_by_image(
            CollectionId=COLLECTION, Image={"Bytes": data}, FaceMatchThreshold=0, MaxFaces=4096
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "InvalidParameterException":
            return None
        raise
    if "SearchedFace" not in users:
        return None
    return (
        [(m["User"]["UserId"], m["Similarity"]) for m in users["UserMatches"]],
        [(m["Face"]["ExternalImageId"], m["Similarity"]) for m in faces["FaceMatches"]],
    )


def rates(results: list[tuple[str, list[tuple[str, float]]]], total: int) -> dict[str, float]:
    """Rank-1, and per threshold: right person on top and passing (TPIR), any wrong one passing (FPIR)."""
    found = {"rank-1": sum(bool(r) and r[0][0] == person for person, r in results) / total}
    for threshold in THRESHOLDS:
        found[f"TPIR@{threshold:g}"] = sum(
            bool(r) and r[0][0] == person and r[0][1] >= threshold for person, r in results
        ) / total
        found[f"FPIR@{threshold:g}"] = sum(
            any(name != person and s >= threshold for name, s in r) for person, r in results
        ) / total
    return found


def main() -> int:
    root = facedata_location() / "lfw_dev"
    people = {p: photos for p, photos in identity_images(root).items() if len(photos) >= MIN_PHOTOS}
    probes = [(person, photo) for person, photos in people.items() for photo in photos[GALLERY_PER_PERSON:]]
    server = LiveServer(Path(tempfile.mkdtemp()) / "data").start()
    try:
        client = client_for(server.url)
        started = time.monotonic()
        associated = enrol(client, people)
        user_results, face_results, no_face = [], [], []
        for person, photo in probes:
            found = ranked(client, photo.read_bytes())
            if found is None:
                no_face.append(photo.name)
                found = ([], [])
            user_results.append((person, found[0]))
            face_results.append((person, found[1]))
        elapsed = time.monotonic() - started
    finally:
        server.stop()

    print(f"{len(people)} people with >= {MIN_PHOTOS} photos; {associated} gallery faces associated "
          f"({GALLERY_PER_PERSON} photos each); {len(probes)} probes, {len(no_face)} without a detected face "
          f"(counted as misses): {', '.join(no_face) or 'none'}; {elapsed:.0f} s\n")
    users, faces = rates(user_results, len(probes)), rates(face_results, len(probes))
    print("| measure | SearchUsersByImage | SearchFacesByImage |")
    print("|---|---:|---:|")
    for key in users:
        print(f"| {key} | {users[key]:.3f} | {faces[key]:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
