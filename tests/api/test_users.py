"""Users through boto3 against the live server: several faces of one person, searched as one."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.support.facedata import facedata_dir

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"
NO_FACE = "nonface_and_bad_inputs/nonface_real/skimage_coffee.png"
UNKNOWN_FACE = "00000000-0000-4000-8000-000000000000"


def photo(relative: str) -> bytes:
    return (facedata_dir() / relative).read_bytes()


def person_photos(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((facedata_dir() / "lfw_tiny" / name).glob("*.jpg"))]


def code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def index_one(client, collection: str, data: bytes, external: str) -> str:
    records = client.index_faces(
        CollectionId=collection, Image={"Bytes": data}, ExternalImageId=external, MaxFaces=1
    )["FaceRecords"]
    assert records, external
    return str(records[0]["Face"]["FaceId"])


@pytest.fixture
def people(rekognition):
    """A collection with every photo of three people of lfw_tiny indexed; {name: [face ids]}."""
    rekognition.create_collection(CollectionId="people")
    found = {}
    for name in ("Kim_Jong-Il", "Benjamin_Netanyahu", "Pamela_Anderson"):
        found[name] = [index_one(rekognition, "people", data, f"{name}-{i}") for i, data in enumerate(person_photos(name))]
    return found


def test_user_lifecycle_counts_and_status(rekognition, people):
    rekognition.create_user(CollectionId="people", UserId="kim")
    assert rekognition.describe_collection(CollectionId="people")["UserCount"] == 1
    assert rekognition.list_users(CollectionId="people")["Users"] == [{"UserId": "kim", "UserStatus": "CREATED"}]
    response = rekognition.associate_faces(CollectionId="people", UserId="kim",
                                           FaceIds=people["Kim_Jong-Il"][:3])
    assert [f["FaceId"] for f in response["AssociatedFaces"]] == people["Kim_Jong-Il"][:3]
    assert response["UnsuccessfulFaceAssociations"] == [] and response["UserStatus"] == "ACTIVE"
    listed = rekognition.list_faces(CollectionId="people", UserId="kim")["Faces"]
    assert {f["FaceId"] for f in listed} == set(people["Kim_Jong-Il"][:3])
    assert all(f["UserId"] == "kim" for f in listed)
    deleted = rekognition.delete_user(CollectionId="people", UserId="kim")
    assert {k for k in deleted if k != "ResponseMetadata"} == set()
    assert rekognition.describe_collection(CollectionId="people")["UserCount"] == 0
    assert rekognition.list_faces(CollectionId="people", UserId="kim")["Faces"] == []
    assert "UserId" not in rekognition.list_faces(CollectionId="people", FaceIds=people["Kim_Jong-Il"][:1])[
        "Faces"][0]


def test_create_user_twice_is_a_conflict_and_missing_ones_are_not_found(rekognition, people):
    rekognition.create_user(CollectionId="people", UserId="u:1")
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_user(CollectionId="people", UserId="u:1")
    assert code(excinfo) == "ConflictException"
    for call, args in ((rekognition.delete_user, {}), (rekognition.associate_faces, {"FaceIds": [UNKNOWN_FACE]}),
                       (rekognition.disassociate_faces, {"FaceIds": [UNKNOWN_FACE]}), (rekognition.search_users, {})):
        with pytest.raises(ClientError) as excinfo:
            call(CollectionId="people", UserId="nobody", **args)
        assert code(excinfo) == "ResourceNotFoundException", call
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_user(CollectionId="no-such-collection", UserId="u")
    assert code(excinfo) == "ResourceNotFoundException"


def test_association_refusals_carry_aws_reasons(rekognition, people):
    rekognition.create_user(CollectionId="people", UserId="benjamin")
    rekognition.create_user(CollectionId="people", UserId="pamela")
    rekognition.associate_faces(CollectionId="people", UserId="pamela", FaceIds=people["Pamela_Anderson"][:1])
    benjamin = people["Benjamin_Netanyahu"]
    first = rekognition.associate_faces(CollectionId="people", UserId="benjamin", FaceIds=benjamin[:2])
    assert len(first["AssociatedFaces"]) == 2
    response = rekognition.associate_faces(
        CollectionId="people",
        UserId="benjamin",
        FaceIds=[benjamin[0], UNKNOWN_FACE, people["Pamela_Anderson"][0], people["Kim_Jong-Il"][0], benjamin[2]],
    )
    # benjamin[0] is already his: silently ignored; benjamin[2] matches him and joins.
    assert [f["FaceId"] for f in response["AssociatedFaces"]] == [benjamin[2]]
    refused = {r["FaceId"]: r for r in response["UnsuccessfulFaceAssociations"]}
    assert refused[UNKNOWN_FACE]["Reasons"] == ["FACE_NOT_FOUND"]
    assert refused[people["Pamela_Anderson"][0]]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert refused[people["Pamela_Anderson"][0]]["UserId"] == "pamela"
    low = refused[people["Kim_Jong-Il"][0]]
    assert low["Reasons"] == ["LOW_MATCH_CONFIDENCE"] and low["Confidence"] < 75
    assert len(refused) == 3


def test_disassociation_and_deleting_an_associated_face(rekognition, people):
    rekognition.create_user(CollectionId="people", UserId="pamela")
    faces = people["Pamela_Anderson"]
    rekognition.associate_faces(CollectionId="people", UserId="pamela", FaceIds=faces[:2])
    deletion = rekognition.delete_faces(CollectionId="people", FaceIds=[faces[0]])
    assert "DeletedFaces" not in deletion
    assert deletion["UnsuccessfulFaceDeletions"] == [
        {"FaceId": faces[0], "UserId": "pamela", "Reasons": ["ASSOCIATED_TO_AN_EXISTING_USER"]}
    ]
    response = rekognition.disassociate_faces(
        CollectionId="people", UserId="pamela", FaceIds=[faces[0], faces[3], UNKNOWN_FACE]
    )
    assert response["DisassociatedFaces"] == [{"FaceId": faces[0]}]  # faces[3] was never hers: ignored
    assert response["UnsuccessfulFaceDisassociations"] == [{"FaceId": UNKNOWN_FACE, "Reasons": ["FACE_NOT_FOUND"]}]
    assert response["UserStatus"] == "ACTIVE"
    assert rekognition.delete_faces(CollectionId="people", FaceIds=[faces[0]])["DeletedFaces"] == [faces[0]]


def test_a_user_holds_at_most_100_faces(rekognition):
    rekognition.create_collection(CollectionId="many")
    data = photo(GROUP)
    faces = []
    for i in range(17):  # 17 x 6 = 102 faces of one group photo, each under its own external id
        faces += [r["Face"]["FaceId"] for r in rekognition.index_faces(
            CollectionId="many", Image={"Bytes": data}, ExternalImageId=f"copy-{i}", QualityFilter="NONE"
        )["FaceRecords"]]
    assert len(faces) >= 101
    rekognition.create_user(CollectionId="many", UserId="crowd")
    rekognition.associate_faces(CollectionId="many", UserId="crowd", FaceIds=faces[:100], UserMatchThreshold=0)
    with pytest.raises(ClientError) as excinfo:
        rekognition.associate_faces(CollectionId="many", UserId="crowd", FaceIds=faces[100:101], UserMatchThreshold=0)
    assert code(excinfo) == "ServiceQuotaExceededException"
    assert len(rekognition.list_faces(CollectionId="many", UserId="crowd", MaxResults=200)["Faces"]) == 100


def test_search_users_by_face_user_and_image(rekognition, people):
    for name in people:
        user = name.split("_")[0].lower()
        rekognition.create_user(CollectionId="people", UserId=user)
        rekognition.associate_faces(CollectionId="people", UserId=user, FaceIds=people[name][:2])
    by_face = rekognition.search_users(CollectionId="people", FaceId=people["Benjamin_Netanyahu"][3])
    assert by_face["SearchedFace"] == {"FaceId": people["Benjamin_Netanyahu"][3]}
    assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["benjamin"]
    assert by_face["UserMatches"][0]["User"]["UserStatus"] == "ACTIVE"
    by_user = rekognition.search_users(CollectionId="people", UserId="benjamin", UserMatchThreshold=0)
    assert by_user["SearchedUser"] == {"UserId": "benjamin"}
    ids = [m["User"]["UserId"] for m in by_user["UserMatches"]]
    assert "benjamin" not in ids and sorted(ids) == ["kim", "pamela"]
    similarities = [m["Similarity"] for m in by_user["UserMatches"]]
    assert similarities == sorted(similarities, reverse=True)
    by_image = rekognition.search_users_by_image(
        CollectionId="people", Image={"Bytes": person_photos("Kim_Jong-Il")[3]}
    )
    assert [m["User"]["UserId"] for m in by_image["UserMatches"]] == ["kim"]
    assert set(by_image["SearchedFace"]["FaceDetail"]) >= {"BoundingBox", "Confidence"}
    assert rekognition.search_users(CollectionId="people", FaceId=people["Benjamin_Netanyahu"][3],
                                    MaxUsers=1, UserMatchThreshold=0)["UserMatches"][0]["User"]["UserId"] == "benjamin"


def test_search_users_by_image_without_a_face_is_empty_not_an_error(rekognition, people):
    response = rekognition.search_users_by_image(CollectionId="people", Image={"Bytes": photo(NO_FACE)})
    assert response["UserMatches"] == [] and "SearchedFace" not in response


def test_search_users_by_a_group_photo_lists_the_other_faces_as_unsearched(rekognition, people):
    response = rekognition.search_users_by_image(CollectionId="people", Image={"Bytes": photo(GROUP)})
    assert "SearchedFace" in response
    assert [u["Reasons"] for u in response["UnsearchedFaces"]] == [["FACE_NOT_LARGEST"]] * 5


def test_search_users_needs_exactly_one_of_face_and_user(rekognition, people):
    for args in ({}, {"UserId": "x", "FaceId": people["Pamela_Anderson"][0]}):
        with pytest.raises(ClientError) as excinfo:
            rekognition.search_users(CollectionId="people", **args)
        assert code(excinfo) == "InvalidParameterException"


def test_client_request_token_makes_calls_idempotent(rekognition, people):
    rekognition.create_user(CollectionId="people", UserId="once", ClientRequestToken="token-create-1")
    rekognition.create_user(CollectionId="people", UserId="once", ClientRequestToken="token-create-1")  # a retry
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_user(CollectionId="people", UserId="other", ClientRequestToken="token-create-1")
    assert code(excinfo) == "IdempotentParameterMismatchException"
    faces = people["Pamela_Anderson"][:2]
    first = rekognition.associate_faces(CollectionId="people", UserId="once", FaceIds=faces,
                                        ClientRequestToken="token-assoc-1")
    again = rekognition.associate_faces(CollectionId="people", UserId="once", FaceIds=faces,
                                        ClientRequestToken="token-assoc-1")
    assert again["AssociatedFaces"] == first["AssociatedFaces"] == [{"FaceId": f} for f in faces]
    fresh = rekognition.associate_faces(CollectionId="people", UserId="once", FaceIds=faces)
    assert fresh["AssociatedFaces"] == []  # a new call: already associated, silently ignored


def test_list_users_pages(rekognition, people):
    for i in range(7):
        rekognition.create_user(CollectionId="people", UserId=f"user-{i}")
    first = rekognition.list_users(CollectionId="people", MaxResults=3)
    assert [u["UserId"] for u in first["Users"]] == ["user-0", "user-1", "user-2"] and "NextToken" in first
    listed = [u["UserId"] for page in rekognition.get_paginator("list_users").paginate(
        CollectionId="people", PaginationConfig={"PageSize": 3}) for u in page["Users"]]
    assert listed == [f"user-{i}" for i in range(7)]
    with pytest.raises(ClientError) as excinfo:
        rekognition.list_users(CollectionId="people", NextToken="forged.token")
    assert code(excinfo) == "InvalidPaginationTokenException"
