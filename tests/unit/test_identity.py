"""Accounts and regions come from the SigV4 credential scope."""

from __future__ import annotations

from rekog_compat.identity import AccountResolver
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
