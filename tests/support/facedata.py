"""The shared real-photo test data (harness/facedata.py says where it lives), for tests.

Tests skip with a clear reason where it is absent, so the suite still passes on a machine without the data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.facedata import ENV_VAR, facedata_location


def facedata_dir() -> Path:
    """The face-data folder; skips the calling test when it is absent."""
    root = facedata_location()
    if not root.is_dir():
        pytest.skip(f"face data not found at {root}: set {ENV_VAR} to the shared facedata folder")
    return root


def facedata_files(subdir: str) -> list[str]:
    """Paths (relative to the data folder, sorted) of every file under `subdir`, for parametrizing.

    Safe at collection time: answers [] when the data is absent (the tests then skip via facedata_dir).
    """
    base = facedata_location() / subdir
    if not base.is_dir():
        return []
    root = facedata_location()
    return sorted(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file())
