"""One engine per test session: models load once, as in the server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rekog_compat.engine import DetectedFace, EngineConfig, FaceEngine
from tests.support.facedata import facedata_dir


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> FaceEngine:
    face_engine = FaceEngine(EngineConfig(deepface_home=str(tmp_path_factory.mktemp("deepface"))))
    face_engine.check_ready()
    return face_engine


@pytest.fixture(scope="session")
def hog_engine(tmp_path_factory: pytest.TempPathFactory) -> FaceEngine:
    """The engine on dlib's HOG detector (the default before MTCNN; its boxes are the landmark model's own)."""
    face_engine = FaceEngine(EngineConfig(detector="dlib", deepface_home=str(tmp_path_factory.mktemp("deepface"))))
    face_engine.check_ready()
    return face_engine


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def lfw_tiny_faces(engine: FaceEngine, count: int) -> list[tuple[np.ndarray, DetectedFace]]:
    """(image, its largest face) for the first `count` lfw_tiny photos with a face."""
    found = []
    for path in sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg")):
        image = rgb(path)
        faces = engine.detect(image, 1)
        if faces:
            found.append((image, faces[0]))
        if len(found) == count:
            break
    return found
