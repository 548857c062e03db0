"""SigV4 signature verification, for servers given a credentials file.

The expected signature is computed by botocore's own signer over the headers the client
says it signed, at the time it says it signed; the comparison is constant-time. Requests
signed more than 5 minutes away from the server's clock are refused, as AWS does.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

MAX_CLOCK_SKEW = timedelta(minutes=5)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9\-;]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_TWELVE_DIGITS = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]{1,16}){1,3}-\d{1,2}")
"""A region name of the form AWS uses (us-east-1, us-gov-west-1, ap-southeast-2): a credential scope naming
anything else is refused, so that no text of a caller's choosing becomes a namespace or part of an ARN."""


@dataclass(frozen=True)
class Secret:
    secret: str
    account: str


def load_credentials(path: str) -> dict[str, Secret]:
    """`{"AKID...": {"secret": "...", "account": "111122223333", ...}}` (more fields allowed)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of access key ids")
    found = {}
    for key, entry in data.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("secret"), str)
                and isinstance(entry.get("account"), str) and _TWELVE_DIGITS.fullmatch(entry["account"])):
            raise ValueError(f"{path}: {key} needs a 'secret' and a 12-digit 'account'")
        found[key] = Secret(entry["secret"], entry["account"])
    return found


@dataclass(frozen=True)
class Verified:
    access_key: str
    account: str
    region: str


def verify(
    credentials: Mapping[str, Secret],
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> Verified:
    """The verified caller of a request, or the AWS error that refuses it (`headers`: lower-case names)."""
    authorization = headers.get("authorization")
    if not authorization:
        raise MissingAuthenticationTokenException()
    match = _AUTHORIZATION.fullmatch(authorization.strip())
    if match is None:
        raise IncompleteSignatureException()
    check_region(match["region"])
    secret = credentials.get(match["key"])
    if secret is None:
        raise UnrecognizedClientException()
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException("Authorization requires a valid X-Amz-Date header.") from None
    _check_clock(signed_at, now or datetime.now(UTC))
    signed = match["signed"].split(";")
    if "host" not in signed or any(name not in headers for name in signed):
        raise InvalidSignatureException()
    request = AWSRequest(method=method, url=url, data=body, headers={name: headers[name] for name in signed})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(match["key"], secret.secret), match["service"], match["region"])
    if match["date"] != amz_date[:8]:
        raise InvalidSignatureException()
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise InvalidSignatureException()
    return Verified(match["key"], secret.account, match["region"])


def check_region(region: str) -> str:
    """`region`, if AWS could name it; else AWS's refusal of a credential scope with a bad region."""
    if not REGION.fullmatch(region):
        raise InvalidSignatureException("Credential should be scoped to a valid region.")
    return region


def _check_clock(signed_at: datetime, now: datetime) -> None:
    fmt = _AMZ_DATE
    if signed_at < now - MAX_CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {signed_at.strftime(fmt)} is now earlier than "
            f"{(now - MAX_CLOCK_SKEW).strftime(fmt)} ({now.strftime(fmt)} - 5 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {signed_at.strftime(fmt)} is still later than "
            f"{(now + MAX_CLOCK_SKEW).strftime(fmt)} ({now.strftime(fmt)} + 5 min.)"
        )
