"""A collection's faces through boto3 against the live server: index, list, delete, search."""

from __future__ import annotations

import io
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from PIL import Image, ImageFilter

from tests.support.facedata import facedata_dir

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"
NO_FACE = "nonface_and_bad_inputs/nonface_real/skimage_coffee.png"


def photo(relative: str) -> bytes:
    return (facedata_dir() / relative).read_bytes()


def lfw_tiny() -> dict[str, list[bytes]]:
    root = facedata_dir() / "lfw_tiny"
    return {d.name: [p.read_bytes() for p in sorted(d.glob("*.jpg"))] for d in sorted(root.iterdir()) if d.is_dir()}


def code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def index(client, collection: str, data: bytes, external: str | None = None, **kwargs):
    args = {"CollectionId": collection, "Image": {"Bytes": data}, **kwargs}
    if external:
        args["ExternalImageId"] = external
    return client.index_faces(**args)


def test_lfw_tiny_identification_at_the_default_threshold(rekognition):
    """Gallery: one photo of each of 40 people; probes: the 60 other photos of 20 of them."""
    rekognition.create_collection(CollectionId="lfw")
    probes = []
    for person, photos in lfw_tiny().items():
        records = index(rekognition, "lfw", photos[0], person, MaxFaces=1)["FaceRecords"]
        assert len(records) == 1, person
        probes += [(person, p) for p in photos[1:]]
    assert rekognition.describe_collection(CollectionId="lfw")["FaceCount"] == 40
    assert len(probes) == 60

    right_on_top = wrong_accepted = 0
    for person, probe in probes:
        try:
            best = rekognition.search_faces_by_image(
                CollectionId="lfw", Image={"Bytes": probe}, FaceMatchThreshold=0, MaxFaces=1
            )["FaceMatches"]
        except ClientError as error:  # no face found in the probe: a miss, counted, never dropped
            assert error.response["Error"]["Code"] == "InvalidParameterException"
            continue
        right_on_top += best[0]["Face"]["ExternalImageId"] == person
        accepted = rekognition.search_faces_by_image(CollectionId="lfw", Image={"Bytes": probe})["FaceMatches"]
        wrong_accepted += any(m["Face"]["ExternalImageId"] != person for m in accepted)
    assert right_on_top / len(probes) >= 0.95, right_on_top
    # 40 gallery faces x FMR 1e-3 per pair: about 4 % of probes may pass with a wrong person.
    assert wrong_accepted / len(probes) <= 0.05, wrong_accepted


def test_index_faces_returns_records_and_details_and_counts_them(rekognition):
    rekognition.create_collection(CollectionId="group")
    response = index(rekognition, "group", photo(GROUP), "friends", DetectionAttributes=["ALL"])
    records = response["FaceRecords"]
    assert len(records) == 6 and response["UnindexedFaces"] == []
    assert response["FaceModelVersion"] == "Dlib"
    for record in records:
        face = record["Face"]
        assert face["ExternalImageId"] == "friends"
        assert face["BoundingBox"] == record["FaceDetail"]["BoundingBox"]
        assert len(record["FaceDetail"]["Landmarks"]) == 30 and "AgeRange" in record["FaceDetail"]
    assert len({r["Face"]["ImageId"] for r in records}) == 1
    assert rekognition.describe_collection(CollectionId="group")["FaceCount"] == 6


def test_max_faces_keeps_the_largest_and_reports_the_rest(rekognition):
    rekognition.create_collection(CollectionId="max")
    response = index(rekognition, "max", photo(GROUP), MaxFaces=2, QualityFilter="NONE")
    areas = [r["Face"]["BoundingBox"]["Width"] * r["Face"]["BoundingBox"]["Height"] for r in response["FaceRecords"]]
    assert len(areas) == 2 and areas[0] >= areas[1]
    assert [u["Reasons"] for u in response["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]] * 4
    smallest_kept = min(areas)
    for unindexed in response["UnindexedFaces"]:
        box = unindexed["FaceDetail"]["BoundingBox"]
        assert box["Width"] * box["Height"] <= smallest_kept


def test_quality_filter_reports_aws_reasons(rekognition):
    rekognition.create_collection(CollectionId="quality")
    sharp = Image.open(io.BytesIO(photo("lfw_tiny/Pamela_Anderson/Pamela_Anderson_0004.jpg")))
    buffer = io.BytesIO()
    sharp.filter(ImageFilter.GaussianBlur(3)).save(buffer, "JPEG")
    response = index(rekognition, "quality", buffer.getvalue(), QualityFilter="HIGH")
    assert response["FaceRecords"] == []
    assert "LOW_SHARPNESS" in response["UnindexedFaces"][0]["Reasons"]
    assert index(rekognition, "quality", buffer.getvalue(), QualityFilter="NONE")["FaceRecords"]


def test_an_image_without_a_face_indexes_nothing(rekognition):
    rekognition.create_collection(CollectionId="empty")
    response = index(rekognition, "empty", photo(NO_FACE))
    assert response["FaceRecords"] == [] and response["UnindexedFaces"] == []


def test_reindexing_the_same_image_and_external_id_stores_no_duplicate(rekognition):
    rekognition.create_collection(CollectionId="dedupe")
    first = index(rekognition, "dedupe", photo(GROUP), "g")["FaceRecords"]
    again = index(rekognition, "dedupe", photo(GROUP), "g")["FaceRecords"]
    assert [r["Face"]["FaceId"] for r in again] == [r["Face"]["FaceId"] for r in first]
    assert rekognition.describe_collection(CollectionId="dedupe")["FaceCount"] == 6
    other = index(rekognition, "dedupe", photo(GROUP), "another-id")["FaceRecords"]
    assert not {r["Face"]["FaceId"] for r in other} & {r["Face"]["FaceId"] for r in first}
    assert rekognition.describe_collection(CollectionId="dedupe")["FaceCount"] == 12


def test_the_same_image_gets_the_same_face_ids_in_two_collections(rekognition):
    for name in ("one", "two"):
        rekognition.create_collection(CollectionId=name)
    a = index(rekognition, "one", photo(GROUP), "g")["FaceRecords"]
    b = index(rekognition, "two", photo(GROUP), "g")["FaceRecords"]
    assert [r["Face"]["FaceId"] for r in a] == [r["Face"]["FaceId"] for r in b]
    assert a[0]["Face"]["ImageId"] == b[0]["Face"]["ImageId"]


def test_list_faces_pages_through_everything_with_a_paginator(rekognition):
    rekognition.create_collection(CollectionId="pages")
    ids = {r["Face"]["FaceId"] for r in index(rekognition, "pages", photo(GROUP), "g")["FaceRecords"]}
    ids |= {r["Face"]["FaceId"] for r in index(rekognition, "pages", photo(GROUP), "h")["FaceRecords"]}
    first = rekognition.list_faces(CollectionId="pages", MaxResults=5)
    assert len(first["Faces"]) == 5 and "NextToken" in first and first["FaceModelVersion"] == "Dlib"
    listed = [
        face["FaceId"]
        for page in rekognition.get_paginator("list_faces").paginate(CollectionId="pages", PaginationConfig={"PageSize": 5})
        for face in page["Faces"]
    ]
    assert len(listed) == 12 and set(listed) == ids
    chosen = sorted(ids)[:3]
    assert {f["FaceId"] for f in rekognition.list_faces(CollectionId="pages", FaceIds=chosen)["Faces"]} == set(chosen)


def test_a_forged_list_faces_token_is_refused(rekognition):
    rekognition.create_collection(CollectionId="forged")
    with pytest.raises(ClientError) as excinfo:
        rekognition.list_faces(CollectionId="forged", NextToken="eyJwIjogMX0.AAAA")
    assert code(excinfo) == "InvalidPaginationTokenException"


def test_a_deleted_face_is_never_returned_again(rekognition):
    rekognition.create_collection(CollectionId="delete")
    records = index(rekognition, "delete", photo(GROUP), "g")["FaceRecords"]
    gone = records[0]["Face"]["FaceId"]
    unknown = "00000000-0000-4000-8000-000000000000"
    response = rekognition.delete_faces(CollectionId="delete", FaceIds=[gone, unknown])
    assert response["DeletedFaces"] == [gone]
    assert response["UnsuccessfulFaceDeletions"] == [{"FaceId": unknown, "Reasons": ["FACE_NOT_FOUND"]}]
    assert rekognition.describe_collection(CollectionId="delete")["FaceCount"] == 5
    assert gone not in {f["FaceId"] for f in rekognition.list_faces(CollectionId="delete")["Faces"]}
    by_image = rekognition.search_faces_by_image(
        CollectionId="delete", Image={"Bytes": photo(GROUP)}, FaceMatchThreshold=0
    )["FaceMatches"]
    assert len(by_image) == 5 and gone not in {m["Face"]["FaceId"] for m in by_image}
    other = records[1]["Face"]["FaceId"]
    by_id = rekognition.search_faces(CollectionId="delete", FaceId=other, FaceMatchThreshold=0)["FaceMatches"]
    assert {m["Face"]["FaceId"] for m in by_id} == {r["Face"]["FaceId"] for r in records[2:]}
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces(CollectionId="delete", FaceId=gone)
    assert code(excinfo) == "InvalidParameterException"
    again = rekognition.delete_faces(CollectionId="delete", FaceIds=[gone])
    assert "DeletedFaces" not in again and again["UnsuccessfulFaceDeletions"][0]["FaceId"] == gone


def test_search_faces_excludes_the_face_itself_and_sorts_by_similarity(rekognition):
    rekognition.create_collection(CollectionId="search")
    people = lfw_tiny()
    geraldine = people["Geraldine_Chaplin"]
    own = [index(rekognition, "search", p, f"gc-{i}")["FaceRecords"][0]["Face"]["FaceId"] for i, p in enumerate(geraldine)]
    index(rekognition, "search", people["Vitali_Klitschko"][0], "vk")
    response = rekognition.search_faces(CollectionId="search", FaceId=own[0], FaceMatchThreshold=0)
    assert response["SearchedFaceId"] == own[0] and response["FaceModelVersion"] == "Dlib"
    matches = response["FaceMatches"]
    assert own[0] not in {m["Face"]["FaceId"] for m in matches}
    similarities = [m["Similarity"] for m in matches]
    assert similarities == sorted(similarities, reverse=True)
    assert matches[-1]["Face"]["ExternalImageId"] == "vk"
    strict = rekognition.search_faces(CollectionId="search", FaceId=own[0], FaceMatchThreshold=99.9)["FaceMatches"]
    assert all(m["Similarity"] >= 99.9 for m in strict)
    assert len(rekognition.search_faces(CollectionId="search", FaceId=own[0], MaxFaces=1,
                                        FaceMatchThreshold=0)["FaceMatches"]) == 1


def test_search_faces_by_image_reports_the_searched_face(rekognition):
    rekognition.create_collection(CollectionId="byimage")
    index(rekognition, "byimage", photo(GROUP), "g")
    response = rekognition.search_faces_by_image(CollectionId="byimage", Image={"Bytes": photo(GROUP)})
    assert 0 < response["SearchedFaceConfidence"] <= 100
    assert set(response["SearchedFaceBoundingBox"]) == {"Width", "Height", "Left", "Top"}
    assert response["FaceMatches"][0]["Similarity"] > 99
    assert response["FaceMatches"][0]["Face"]["BoundingBox"] == response["SearchedFaceBoundingBox"]


def test_search_by_an_image_without_a_face_is_invalid_parameter(rekognition):
    rekognition.create_collection(CollectionId="noface")
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces_by_image(CollectionId="noface", Image={"Bytes": photo(NO_FACE)})
    assert code(excinfo) == "InvalidParameterException"


@pytest.mark.parametrize("call", ["index_faces", "search_faces_by_image", "list_faces", "delete_faces", "search_faces"])
def test_a_missing_collection_is_not_found(rekognition, call):
    args = {
        "index_faces": {"Image": {"Bytes": photo(GROUP)}},
        "search_faces_by_image": {"Image": {"Bytes": photo(GROUP)}},
        "list_faces": {},
        "delete_faces": {"FaceIds": ["00000000-0000-4000-8000-000000000000"]},
        "search_faces": {"FaceId": "00000000-0000-4000-8000-000000000000"},
    }[call]
    with pytest.raises(ClientError) as excinfo:
        getattr(rekognition, call)(CollectionId="nowhere", **args)
    assert code(excinfo) == "ResourceNotFoundException"
    assert excinfo.value.response["Error"]["Message"] == "The collection id: nowhere does not exist"


@pytest.mark.parametrize(("kwargs", "member"), [({"MaxFaces": 0}, "maxFaces"), ({"MaxFaces": 5000}, "maxFaces"),
                                                ({"FaceMatchThreshold": 120.0}, "faceMatchThreshold")])
def test_search_limits_are_validated(rekognition, kwargs, member):
    rekognition.create_collection(CollectionId="limits")
    with pytest.raises(ClientError) as excinfo:
        rekognition.search_faces_by_image(CollectionId="limits", Image={"Bytes": photo(GROUP)}, **kwargs)
    assert code(excinfo) == "ValidationException"
    assert member in excinfo.value.response["Error"]["Message"]


def test_concurrent_indexing_and_searching_keeps_counts_exact(rekognition):
    rekognition.create_collection(CollectionId="busy")
    people = list(lfw_tiny().items())

    def work(worker: int) -> list[str]:
        indexed = []
        for person, photos in people[worker::4]:
            if index(rekognition, "busy", photos[0], person, MaxFaces=1)["FaceRecords"]:
                indexed.append(person)
            rekognition.search_faces_by_image(CollectionId="busy", Image={"Bytes": photos[0]}, FaceMatchThreshold=0)
        return indexed

    with ThreadPoolExecutor(4) as pool:
        indexed = [person for done in pool.map(work, range(4)) for person in done]
    assert len(indexed) >= len(people) - 1
    assert rekognition.describe_collection(CollectionId="busy")["FaceCount"] == len(indexed)
    listed = [f for page in rekognition.get_paginator("list_faces").paginate(CollectionId="busy") for f in page["Faces"]]
    assert sorted(f["ExternalImageId"] for f in listed) == sorted(indexed)
    # Every indexed face is searchable: each person's gallery photo finds itself.
    photos = dict(people)
    for person in indexed:
        top = rekognition.search_faces_by_image(CollectionId="busy", Image={"Bytes": photos[person][0]}, MaxFaces=1)
        assert top["FaceMatches"][0]["Face"]["ExternalImageId"] == person


def test_a_collection_of_another_model_cannot_be_searched(tmp_path, validated_operations):
    from harness.live_server import LiveServer
    from tests.conftest import make_client

    data_dir = tmp_path / "data"
    first = LiveServer(data_dir).start()
    try:
        make_client(first.url, validated_operations).create_collection(CollectionId="arc")
    finally:
        first.stop()
    with sqlite3.connect(data_dir / "rekog-compat.sqlite3") as conn:  # as if ArcFace had created it
        conn.execute("UPDATE collections SET face_model_version = 'ArcFace' WHERE collection_id = 'arc'")
    second = LiveServer(data_dir).start()
    try:
        client = make_client(second.url, validated_operations)
        for call in (client.index_faces, client.search_faces_by_image):
            with pytest.raises(ClientError) as excinfo:
                call(CollectionId="arc", Image={"Bytes": photo(GROUP)})
            assert code(excinfo) == "InvalidParameterException"
            assert "ArcFace" in excinfo.value.response["Error"]["Message"]
    finally:
        second.stop()
