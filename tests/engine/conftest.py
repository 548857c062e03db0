"""One engine per test session: models load once, as in the server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rekog_compat.engine import EngineConfig, FaceEngine


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> FaceEngine:
    face_engine = FaceEngine(EngineConfig(deepface_home=str(tmp_path_factory.mktemp("deepface"))))
    face_engine.check_ready()
    return face_engine


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))
