"""Collection lifecycle, pagination and validation through a real boto3 client."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_collection_lifecycle_create_describe_list_delete(rekognition):
    created = rekognition.create_collection(CollectionId="lifecycle.one-1")
    account = created["CollectionArn"].split(":")[4]
    assert created["StatusCode"] == 200
    assert created["CollectionArn"] == f"arn:aws:rekognition:us-east-1:{account}:collection/lifecycle.one-1"
    assert created["FaceModelVersion"] == "Dlib"
    assert created["ResponseMetadata"]["RequestId"]

    described = rekognition.describe_collection(CollectionId="lifecycle.one-1")
    assert described["CollectionARN"] == created["CollectionArn"]
    assert described["FaceCount"] == 0
    assert described["UserCount"] == 0
    assert described["FaceModelVersion"] == "Dlib"
    age = dt.datetime.now(dt.UTC) - described["CreationTimestamp"]
    assert dt.timedelta(0) <= age < dt.timedelta(minutes=5)

    listed = rekognition.list_collections()
    assert listed["CollectionIds"] == ["lifecycle.one-1"]
    assert listed["FaceModelVersions"] == ["Dlib"]
    assert "NextToken" not in listed

    assert rekognition.delete_collection(CollectionId="lifecycle.one-1")["StatusCode"] == 200
    assert rekognition.list_collections()["CollectionIds"] == []
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException) as excinfo:
        rekognition.describe_collection(CollectionId="lifecycle.one-1")
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "The collection id: lifecycle.one-1 does not exist",
        400,
    )


def test_collection_ids_are_case_sensitive(rekognition):
    rekognition.create_collection(CollectionId="Faces")
    rekognition.create_collection(CollectionId="faces")
    assert sorted(rekognition.list_collections()["CollectionIds"]) == ["Faces", "faces"]


def test_creating_an_existing_collection_is_refused_with_aws_message(rekognition):
    rekognition.create_collection(CollectionId="dup")
    with pytest.raises(rekognition.exceptions.ResourceAlreadyExistsException) as excinfo:
        rekognition.create_collection(CollectionId="dup")
    assert error_of(excinfo) == ("ResourceAlreadyExistsException", "The collection id: dup already exists.", 400)


def test_deleting_a_missing_collection_is_not_found(rekognition):
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException) as excinfo:
        rekognition.delete_collection(CollectionId="never-made")
    assert error_of(excinfo)[1] == "The collection id: never-made does not exist"


def test_pagination_over_25_collections_with_max_results_10(rekognition):
    ids = [f"page-{i:02d}" for i in range(25)]
    for collection_id in ids:
        rekognition.create_collection(CollectionId=collection_id)

    pages = []
    token = None
    while True:
        kwargs = {"MaxResults": 10, **({"NextToken": token} if token else {})}
        page = rekognition.list_collections(**kwargs)
        assert len(page["CollectionIds"]) == len(page["FaceModelVersions"])
        pages.append(page["CollectionIds"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [c for p in pages for c in p] == ids

    paginated = rekognition.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 10})
    assert paginated.build_full_result()["CollectionIds"] == ids


def test_pagination_survives_deletion_of_the_last_collection_seen(rekognition):
    for i in range(4):
        rekognition.create_collection(CollectionId=f"c{i}")
    first = rekognition.list_collections(MaxResults=2)
    rekognition.delete_collection(CollectionId="c1")
    second = rekognition.list_collections(MaxResults=2, NextToken=first["NextToken"])
    assert first["CollectionIds"] == ["c0", "c1"]
    assert second["CollectionIds"] == ["c2", "c3"]


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJwIjogMSwgInQiOiAxfQ.AAAAAAAAAAAAAAAAAAAAAA", "a.b.c", "x" * 255],
)
def test_forged_pagination_tokens_are_refused(rekognition, token):
    rekognition.create_collection(CollectionId="one")
    with pytest.raises(rekognition.exceptions.InvalidPaginationTokenException) as excinfo:
        rekognition.list_collections(NextToken=token)
    assert error_of(excinfo) == ("InvalidPaginationTokenException", "Invalid Token", 400)


def test_tampered_pagination_token_is_refused(rekognition):
    for i in range(3):
        rekognition.create_collection(CollectionId=f"t{i}")
    token = rekognition.list_collections(MaxResults=1)["NextToken"]
    payload, mac = token.split(".")
    tampered = payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac
    with pytest.raises(rekognition.exceptions.InvalidPaginationTokenException):
        rekognition.list_collections(NextToken=tampered)


def test_a_token_from_another_account_is_refused(client_for):
    mine, theirs = client_for(access_key="111111111111"), client_for(access_key="222222222222")
    for i in range(3):
        mine.create_collection(CollectionId=f"own-{i}")
    token = mine.list_collections(MaxResults=1)["NextToken"]
    with pytest.raises(theirs.exceptions.InvalidPaginationTokenException):
        theirs.list_collections(NextToken=token)


def test_collection_id_pattern_violation_is_a_validation_exception_in_aws_wording(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_collection(CollectionId="bad id!")
    assert error_of(excinfo) == (
        "ValidationException",
        "1 validation error detected: Value 'bad id!' at 'collectionId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.\\-]+",
        400,
    )


def test_several_violations_are_reported_together(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.create_collection(CollectionId="!" * 256)
    code, message, _ = error_of(excinfo)
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 255" in message
    assert "Member must satisfy regular expression pattern" in message


def test_missing_required_member_is_reported_as_null(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.describe_collection()
    assert error_of(excinfo)[:2] == (
        "ValidationException",
        "1 validation error detected: Value null at 'collectionId' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_max_results_above_the_model_maximum_is_refused(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.list_collections(MaxResults=4097)
    assert error_of(excinfo)[1] == (
        "1 validation error detected: Value '4097' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 4096"
    )


def test_wrong_json_type_is_a_serialization_exception(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.describe_collection(CollectionId=12)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("SerializationException", 400)
    assert "collectionId" in message


def test_collections_of_every_successful_call_were_validated_against_output_shapes(
    rekognition, validated_operations
):
    rekognition.create_collection(CollectionId="shape")
    rekognition.describe_collection(CollectionId="shape")
    assert {"CreateCollection", "DescribeCollection"} <= set(validated_operations)
