"""Accounts and regions come from the SigV4 credential scope."""

from __future__ import annotations

import pytest

from rekog_compat.config import ServerConfig
from rekog_compat.errors import InvalidSignatureException
from rekog_compat.identity import AccountResolver
from rekog_compat.sigv4 import Secret
from rekog_compat.store import Scope

HEADER = (
    "AWS4-HMAC-SHA256 Credential={key}/20261122/{region}/rekognition/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


def test_twelve_digit_access_key_is_the_account():
    caller = AccountResolver().caller(HEADER.format(key="210987654321", region="eu-west-1"))
    assert caller == caller.__class__("210987654321", Scope("210987654321", "eu-west-1"))


def test_other_keys_use_the_mapping_or_the_default_account():
    resolver = AccountResolver(mapping={"AKIAMAPPED": "111122223333"})
    assert resolver.caller(HEADER.format(key="AKIAMAPPED", region="us-west-2")).scope == Scope("111122223333", "us-west-2")
    assert resolver.caller(HEADER.format(key="AKIAOTHER", region="us-west-2")).scope == Scope("123456789012", "us-west-2")


def test_unsigned_requests_get_the_default_scope():
    caller = AccountResolver(default_region="ap-south-1").caller(None)
    assert caller.access_key is None
    assert caller.scope == Scope("123456789012", "ap-south-1")


@pytest.mark.parametrize("region", ["us-east-1", "us-gov-west-1", "ap-southeast-2", "cn-northwest-1", "eu-central-2"])
def test_regions_of_aws_form_are_taken_from_the_scope(region):
    assert AccountResolver().caller(HEADER.format(key="AKIDX", region=region)).scope.region == region


@pytest.mark.parametrize("region", [
    "x" * 300, "us-east-1x", "US-EAST-1", "useast1", "us-east-", "rëgion-1", "us_east_1", "eu-west-10000",
    "a-b-1", "us-east-1-",
])
def test_a_scope_naming_no_region_is_refused_whether_or_not_signatures_are_verified(region):
    header = HEADER.format(key="AKIDX", region=region)
    with pytest.raises(InvalidSignatureException) as refused:
        AccountResolver().caller(header)
    assert refused.value.status == 403 and "valid region" in refused.value.message
    credentials = {"AKIDX": Secret("s", "111122223333")}
    signed = header.replace("Signature=abc", "Signature=" + "0" * 64)
    with pytest.raises(InvalidSignatureException) as refused:
        AccountResolver(credentials=credentials).authenticate("POST", "http://h/", {"authorization": signed}, b"")
    assert "valid region" in refused.value.message


def test_a_default_region_of_no_aws_form_stops_the_start():
    with pytest.raises(ValueError, match="--default-region"):
        ServerConfig(default_region="mars").check()
