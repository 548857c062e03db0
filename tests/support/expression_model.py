"""Where the Emotions model (`rekog-compat models install face-api`) is for the tests, if installed.

The tests look where the server looks by default (`<default data dir>/models`) unless
REKOG_COMPAT_MODELS_DIR says otherwise; every server they start is given that dir
(harness/live_server.py), so DetectFaces and IndexFaces answer Emotions there. `.ci/run` installs it; elsewhere the tests that
need it skip, naming the command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.live_server import machine_models_dir
from rekog_compat.engine.model_packages import FACE_API


def installed_models_dir() -> Path | None:
    """The models dir holding an intact face-api install, or None."""
    models_dir = Path(machine_models_dir())
    return models_dir if FACE_API.locate(models_dir) is not None else None


def expression_model_dir() -> Path:
    """The installed face_expression model's folder; skips the calling test when it is not installed."""
    models_dir = installed_models_dir()
    if models_dir is None:
        pytest.skip(f"the Emotions model is not installed: {FACE_API.install_command}")
    return FACE_API.directory(models_dir)
