"""Request validation from botocore's model, worded as AWS words it."""

from __future__ import annotations

import pytest

from rekog_compat.errors import SerializationException, ValidationException
from rekog_compat.validation import validate_request


def message(operation: str, body: dict) -> str:
    with pytest.raises(ValidationException) as excinfo:
        validate_request(operation, body)
    return excinfo.value.message


def test_valid_request_passes_through_with_blobs_decoded():
    params = validate_request("IndexFaces", {"CollectionId": "c", "Image": {"Bytes": "aGVsbG8="}, "Unknown": 1})
    assert params == {"CollectionId": "c", "Image": {"Bytes": b"hello"}}


def test_enum_and_range_violations_are_listed_in_member_order():
    text = message("IndexFaces", {"CollectionId": "c", "Image": {}, "MaxFaces": 0, "QualityFilter": "BEST"})
    assert text == (
        "2 validation errors detected: "
        "Value '0' at 'maxFaces' failed to satisfy constraint: Member must have value greater than or equal to 1; "
        "Value 'BEST' at 'qualityFilter' failed to satisfy constraint: "
        "Member must satisfy enum value set: [NONE, AUTO, LOW, MEDIUM, HIGH]"
    )


def test_nested_members_are_named_by_their_path():
    text = message("IndexFaces", {"CollectionId": "c", "Image": {"S3Object": {"Bucket": "b", "Name": "n"}}})
    assert "at 'image.s3Object.bucket'" in text
    assert "Member must have length greater than or equal to 3" in text


def test_list_items_are_checked_and_reported_on_the_list():
    text = message("DeleteFaces", {"CollectionId": "c", "FaceIds": ["not-a-uuid"]})
    assert text.startswith("1 validation error detected: Value '[not-a-uuid]' at 'faceIds' failed to satisfy constraint:")
    assert "Member must satisfy constraint: [Member must satisfy regular expression pattern:" in text


def test_java_regex_classes_in_patterns_are_honoured():
    assert validate_request("CreateCollection", {"CollectionId": "c", "Tags": {"Größe é 1": "wert ü"}})
    assert "Map keys must satisfy constraint" in message("CreateCollection", {"CollectionId": "c", "Tags": {"a#b": ""}})


@pytest.mark.parametrize(
    "body",
    [
        {"CollectionId": ["c"]},
        {"CollectionId": "c", "MaxFaces": "3", "Image": {"Bytes": "aGk="}},
        {"CollectionId": "c", "MaxFaces": True, "Image": {"Bytes": "aGk="}},
        {"CollectionId": "c", "Image": {"Bytes": "!!!"}},
        {"CollectionId": "c", "Image": "bytes"},
    ],
)
def test_wrong_json_types_are_serialization_errors(body):
    with pytest.raises(SerializationException):
        validate_request("IndexFaces", body)


def test_float_members_accept_integers():
    params = validate_request("SearchFaces", {"CollectionId": "c", "FaceId": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                              "FaceMatchThreshold": 90})
    assert params["FaceMatchThreshold"] == 90.0
