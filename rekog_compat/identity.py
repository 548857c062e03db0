"""Who is calling: access key, account and region from the SigV4 Authorization header.

Without a credentials file the header is only read, so that every resource lands under
the caller's (account, region). With one (`--credentials`), every signature is verified
(`sigv4.py`) and the account is the one the file gives the key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .sigv4 import Secret, check_region, load_credentials, verify
from .store import Scope

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

# The region is whatever stands between its slashes, so that a bad one is refused rather than ignored.
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]*)/([^/,\s]+)/aws4_request")
_TWELVE_DIGITS = re.compile(r"\d{12}")


@dataclass(frozen=True)
class Caller:
    """The caller of one request."""

    access_key: str | None
    scope: Scope


@dataclass(frozen=True)
class AccountResolver:
    """Maps access key ids to accounts.

    A key listed in `mapping` uses its account; a key that is itself 12 digits is
    the account id (LocalStack's convention); anything else, or no key, gets
    `default_account`.
    """

    default_account: str = DEFAULT_ACCOUNT
    default_region: str = DEFAULT_REGION
    mapping: dict[str, str] | None = None
    credentials: Mapping[str, Secret] | None = None

    @property
    def verifies_signatures(self) -> bool:
        return self.credentials is not None

    @classmethod
    def from_file(
        cls, path: str | None, default_account: str, default_region: str, credentials_path: str | None = None
    ) -> AccountResolver:
        """Load a JSON object {"ACCESS_KEY_ID": "111122223333", ...} (None: no mapping), and
        the credentials file whose presence turns on signature verification."""
        mapping: dict[str, str] = {}
        if path:
            data = json.loads(Path(path).read_text())
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and _TWELVE_DIGITS.fullmatch(v) for k, v in data.items()
            ):
                raise ValueError(f"{path}: expected a JSON object mapping access key ids to 12-digit account ids")
            mapping = data
        credentials = load_credentials(credentials_path) if credentials_path else None
        return cls(
            default_account=default_account, default_region=default_region, mapping=mapping, credentials=credentials
        )

    def account_for(self, access_key: str | None) -> str:
        if access_key is None:
            return self.default_account
        if self.mapping and access_key in self.mapping:
            return self.mapping[access_key]
        if _TWELVE_DIGITS.fullmatch(access_key):
            return access_key
        return self.default_account

    def caller(self, authorization: str | None) -> Caller:
        """The caller named by an Authorization header (absent or unparsable: the defaults; a scope naming no
        region of AWS's form: InvalidSignatureException, as when signatures are verified)."""
        match = _CREDENTIAL.search(authorization or "")
        if match is None:
            return Caller(None, Scope(self.default_account, self.default_region))
        access_key, _date, region, _service = match.groups()
        return Caller(access_key, Scope(self.account_for(access_key), check_region(region)))

    def authenticate(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Caller:
        """The caller of a request (`headers` with lower-case names): verified when there are
        credentials, else read from the Authorization header."""
        if self.credentials is None:
            return self.caller(headers.get("authorization"))
        verified = verify(self.credentials, method, url, headers, body)
        return Caller(verified.access_key, Scope(verified.account, verified.region))
