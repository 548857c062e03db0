"""Opaque, tamper-evident pagination tokens.

A token carries the position to resume after and when it was issued, signed
with the store's secret and bound to the listing it came from (operation,
account, region, collection). A forged, altered, foreign or expired token is
refused with InvalidPaginationTokenException, as AWS does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from .errors import InvalidPaginationTokenException

TOKEN_LIFETIME_S = 24 * 3600
_MAC_BYTES = 16


def _mac(secret: bytes, listing: str, payload: bytes) -> bytes:
    return hmac.new(secret, listing.encode() + b"\0" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_token(secret: bytes, listing: str, position: int, now: float | None = None) -> str:
    """A token to resume `listing` after `position`."""
    payload = json.dumps({"p": position, "t": int(now if now is not None else time.time())}).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, listing, payload))}"


def decode_token(secret: bytes, listing: str, token: str, now: float | None = None) -> int:
    """The position a token resumes after; raises InvalidPaginationTokenException if it is not valid here."""
    try:
        payload_text, mac_text = token.split(".")
        payload = _unb64(payload_text)
        if not hmac.compare_digest(_unb64(mac_text), _mac(secret, listing, payload)):
            raise ValueError("signature mismatch")
        fields = json.loads(payload)
        position, issued = int(fields["p"]), int(fields["t"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidPaginationTokenException() from None
    age = (now if now is not None else time.time()) - issued
    if age > TOKEN_LIFETIME_S or age < -300:
        raise InvalidPaginationTokenException()
    return position
