"""The real server on the PostgreSQL store (`--store postgresql://...`), driven through boto3.

Two server processes on one database, as a scaled deployment runs them: faces indexed through one
are found through the other, users made in one are searched in the other, pagination tokens of one
are honoured by the other (the store's shared secret).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.live_server import LiveServer
from harness.postgres import fresh_database
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.postgres import postgres_server_url  # noqa: F401 (a fixture)

PEOPLE = ("Kim_Jong-Il", "Benjamin_Netanyahu", "Pamela_Anderson")


def person_photos(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((facedata_dir() / "lfw_tiny" / name).glob("*.jpg"))]


@pytest.fixture
def two_servers(postgres_server_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:  # noqa: F811
    facedata_dir()  # skip before starting anything when the photos are absent
    with fresh_database(postgres_server_url) as url:
        servers = [LiveServer(tmp_path / f"data-{i}", "--store", url) for i in range(2)]
        try:
            for server in servers:
                server.start(timeout=120)
            yield servers[0], servers[1]
        finally:
            for server in servers:
                code = server.stop()
                assert code in (0, None), f"exit code {code}:\n" + "".join(server.output)


def test_index_search_and_users_across_two_servers_on_one_postgres(two_servers, validated_operations):
    first, second = two_servers
    a = make_client(first.url, validated_operations)
    b = make_client(second.url, validated_operations)
    for server in two_servers:
        with urllib.request.urlopen(server.url + "/health") as response:
            store = json.load(response)["store"]
        assert store.startswith("postgresql:postgresql://") and "@" in store, store
    a.create_collection(CollectionId="staff")
    assert b.describe_collection(CollectionId="staff")["FaceCount"] == 0

    faces: dict[str, list[str]] = {}
    for name in PEOPLE:
        photos = person_photos(name)
        faces[name] = []
        for i, data in enumerate(photos[:3]):
            records = a.index_faces(CollectionId="staff", Image={"Bytes": data}, ExternalImageId=f"{name}-{i}",
                                    MaxFaces=1)["FaceRecords"]
            assert records, name
            faces[name].append(records[0]["Face"]["FaceId"])
    assert b.describe_collection(CollectionId="staff")["FaceCount"] == 9

    # A photo never indexed, searched through the other server: its own person comes first.
    for name in PEOPLE:
        probe = person_photos(name)[3]
        matches = b.search_faces_by_image(CollectionId="staff", Image={"Bytes": probe}, FaceMatchThreshold=80,
                                          MaxFaces=3)["FaceMatches"]
        assert matches, name
        assert matches[0]["Face"]["FaceId"] in faces[name]
        assert matches[0]["Face"]["ExternalImageId"].startswith(name)
        similarities = [m["Similarity"] for m in matches]
        assert similarities == sorted(similarities, reverse=True)

    # SearchFaces by a stored face, through the first server, finds the others of that person.
    found = a.search_faces(CollectionId="staff", FaceId=faces["Kim_Jong-Il"][0], FaceMatchThreshold=80)["FaceMatches"]
    assert {m["Face"]["FaceId"] for m in found} >= set(faces["Kim_Jong-Il"][1:])
    assert faces["Kim_Jong-Il"][0] not in {m["Face"]["FaceId"] for m in found}

    # Users: made and associated through one server, searched through the other.
    b.create_user(CollectionId="staff", UserId="kim")
    associated = a.associate_faces(CollectionId="staff", UserId="kim", FaceIds=faces["Kim_Jong-Il"])
    assert {f["FaceId"] for f in associated["AssociatedFaces"]} == set(faces["Kim_Jong-Il"])
    assert associated["UserStatus"] == "ACTIVE"
    users = b.search_users_by_image(CollectionId="staff", Image={"Bytes": person_photos("Kim_Jong-Il")[3]},
                                    UserMatchThreshold=80)["UserMatches"]
    assert [u["User"]["UserId"] for u in users] == ["kim"]
    assert b.search_users(CollectionId="staff", UserId="kim")["SearchedUser"] == {"UserId": "kim"}
    assert [u["UserId"] for u in b.list_users(CollectionId="staff")["Users"]] == ["kim"]

    # A face of a user is not deleted; the others are, and the other server sees it at once.
    deleted = b.delete_faces(CollectionId="staff", FaceIds=[faces["Kim_Jong-Il"][0], faces["Pamela_Anderson"][0]])
    assert deleted["DeletedFaces"] == [faces["Pamela_Anderson"][0]]
    assert [u["FaceId"] for u in deleted["UnsuccessfulFaceDeletions"]] == [faces["Kim_Jong-Il"][0]]
    assert a.describe_collection(CollectionId="staff")["FaceCount"] == 8

    # A ListFaces token from one server is honoured by the other (one secret in the store).
    page = a.list_faces(CollectionId="staff", MaxResults=5)
    rest = b.list_faces(CollectionId="staff", NextToken=page["NextToken"], MaxResults=5)
    listed = [f["FaceId"] for f in page["Faces"] + rest["Faces"]]
    assert len(listed) == len(set(listed)) == 8 and "NextToken" not in rest

    a.delete_collection(CollectionId="staff")
    assert b.list_collections()["CollectionIds"] == []
