"""rekog_sdk: the client side of rekog-compat, for AWS Rekognition or an on-prem server alike."""

from __future__ import annotations

from .client import connect

__all__ = ["connect"]
