"""Pagination tokens are bound to their listing, signed, and expire."""

from __future__ import annotations

import pytest

from rekog_compat.errors import InvalidPaginationTokenException
from rekog_compat.pagination import TOKEN_LIFETIME_S, decode_token, encode_token

SECRET = b"k" * 32


def test_a_token_round_trips_within_its_listing():
    token = encode_token(SECRET, "ListCollections|a|r", 42, now=1000)
    assert decode_token(SECRET, "ListCollections|a|r", token, now=1001) == 42
    assert len(token) <= 255


def test_a_token_is_refused_by_another_listing_or_secret():
    token = encode_token(SECRET, "ListCollections|a|r", 42)
    with pytest.raises(InvalidPaginationTokenException):
        decode_token(SECRET, "ListCollections|b|r", token)
    with pytest.raises(InvalidPaginationTokenException):
        decode_token(b"other" * 8, "ListCollections|a|r", token)


def test_an_expired_token_is_refused():
    token = encode_token(SECRET, "L", 1, now=0)
    with pytest.raises(InvalidPaginationTokenException):
        decode_token(SECRET, "L", token, now=TOKEN_LIFETIME_S + 1)
