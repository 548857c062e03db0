"""Where Human's models (`rekog-compat models install human-models`) and SCRFD's (`... install scrfd`) are for the
tests, if installed.

Looked up as tests/support/expression_model.py looks up face-api's: REKOG_COMPAT_MODELS_DIR, else the server's
default models dir; the tests that need them skip, naming the command, when they are not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.live_server import machine_models_dir
from rekog_compat.engine.model_packages import HUMAN_IRIS, HUMAN_MODELS, SCRFD, ModelPackage
from tests.support.expression_model import installed_models_dir


def _installed(model: ModelPackage, what: str) -> Path:
    """`model`'s installed folder (REKOG_COMPAT_MODELS_DIR, else the default models dir); skips the calling
    test, naming the command, when it is not installed."""
    models_dir = Path(machine_models_dir())
    located = model.locate(models_dir)
    if located is None:
        pytest.skip(f"{what} is not installed: {model.install_command}")
    return located


def human_models_dir() -> Path:
    """The installed human-models folder; skips the calling test when it is not installed."""
    return _installed(HUMAN_MODELS, "Human's models")


def iris_models_dir() -> Path | None:
    """The models dir the test servers are given (harness/live_server.py) when it also holds Human's iris model
    (`rekog-compat models install human-iris`, EyeDirection); None otherwise."""
    models_dir = installed_models_dir()
    return models_dir if models_dir is not None and HUMAN_IRIS.locate(models_dir) is not None else None


def iris_model_dir() -> Path:
    """The installed iris model's folder; skips the calling test when it is not installed."""
    return _installed(HUMAN_IRIS, "Human's iris model (EyeDirection)")


def scrfd_model_dir() -> Path:
    """The installed SCRFD model's folder (the default detector); skips the calling test when it is not installed."""
    return _installed(SCRFD, "SCRFD's model (the default detector)")
