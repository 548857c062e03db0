"""Tagging collections by ARN, with the model's limits."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def make(rekognition, collection_id="tagged", **kwargs):
    return rekognition.create_collection(CollectionId=collection_id, **kwargs)["CollectionArn"]


def test_tags_given_at_creation_are_listed(rekognition):
    arn = make(rekognition, Tags={"team": "records", "env": "dev"})
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "records", "env": "dev"}


def test_tag_resource_adds_and_overwrites_and_untag_removes(rekognition):
    arn = make(rekognition, Tags={"a": "1"})
    rekognition.tag_resource(ResourceArn=arn, Tags={"a": "2", "b": "x y"})
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "2", "b": "x y"}
    rekognition.untag_resource(ResourceArn=arn, TagKeys=["a", "not-there"])
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "x y"}


def test_untagged_collection_lists_an_empty_tag_map(rekognition):
    arn = make(rekognition)
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}


def test_aws_prefixed_tag_keys_are_refused(rekognition):
    arn = make(rekognition)
    with pytest.raises(ClientError) as excinfo:
        rekognition.tag_resource(ResourceArn=arn, Tags={"aws:owner": "me"})
    error = excinfo.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "Map keys must satisfy constraint" in error["Message"]
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}


def test_more_than_200_tags_in_one_call_is_a_validation_error(rekognition):
    arn = make(rekognition)
    with pytest.raises(ClientError) as excinfo:
        rekognition.tag_resource(ResourceArn=arn, Tags={f"k{i}": "v" for i in range(201)})
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 200" in excinfo.value.response["Error"]["Message"]


def test_a_collection_holds_at_most_200_tags_in_total(rekognition):
    arn = make(rekognition, Tags={f"old{i}": "v" for i in range(150)})
    with pytest.raises(rekognition.exceptions.ServiceQuotaExceededException):
        rekognition.tag_resource(ResourceArn=arn, Tags={f"new{i}": "v" for i in range(51)})
    assert len(rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 150
    rekognition.tag_resource(ResourceArn=arn, Tags={f"new{i}": "v" for i in range(50)})
    assert len(rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 200


def test_tagging_a_missing_collection_is_not_found(rekognition):
    arn = make(rekognition, "exists")
    missing = arn.replace("collection/exists", "collection/gone")
    for call in (
        lambda: rekognition.tag_resource(ResourceArn=missing, Tags={"a": "b"}),
        lambda: rekognition.untag_resource(ResourceArn=missing, TagKeys=["a"]),
        lambda: rekognition.list_tags_for_resource(ResourceArn=missing),
    ):
        with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
            call()


def test_malformed_arn_is_an_invalid_parameter(rekognition):
    with pytest.raises(rekognition.exceptions.InvalidParameterException):
        rekognition.list_tags_for_resource(ResourceArn="arn:aws:s3:::some-bucket-name")


def test_another_accounts_collection_cannot_be_tagged_or_read(client_for):
    owner, intruder = client_for(access_key="333333333333"), client_for(access_key="444444444444")
    arn = make(owner, "private", Tags={"secret": "yes"})
    with pytest.raises(intruder.exceptions.ResourceNotFoundException):
        intruder.list_tags_for_resource(ResourceArn=arn)
    with pytest.raises(intruder.exceptions.ResourceNotFoundException):
        intruder.tag_resource(ResourceArn=arn, Tags={"secret": "no"})
    assert owner.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"secret": "yes"}


def test_deleting_a_collection_removes_its_tags(rekognition):
    arn = make(rekognition, "recycled", Tags={"a": "1"})
    rekognition.delete_collection(CollectionId="recycled")
    arn_again = make(rekognition, "recycled")
    assert arn_again == arn
    assert rekognition.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
