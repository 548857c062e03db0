"""`--model Dlib+FaceRes` (engine/fusion.py): Dlib and Human's faceres fused into one vector, on real photos."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from benchmarks.calibrate import labelled_face
from rekog_compat.engine import EngineConfig, FaceEngine
from rekog_compat.engine.core import face_chip
from rekog_compat.engine.embedding import DlibEmbedder
from rekog_compat.engine.fusion import FACERES_WEIGHT, FusedEmbedder, inner_chip
from rekog_compat.engine.human import HumanEmbedder
from rekog_compat.engine.weights import EngineUnavailable, packaged_weight
from tests.engine.conftest import rgb
from tests.support.facedata import facedata_dir
from tests.support.human_models import human_models_dir

DLIB_WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"


def tiny_faces(engine: FaceEngine, count: int) -> Iterator[tuple[np.ndarray, Any]]:
    for path in sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[:count]:
        image = rgb(path)
        face = labelled_face(engine, image)
        if face is not None:
            yield image, face


def test_dlibs_chip_cut_from_the_wider_chip_embeds_as_the_chip_dlib_cuts_itself(engine):
    dlib = DlibEmbedder(str(packaged_weight(DLIB_WEIGHTS)))
    cosines = []
    for image, face in tiny_faces(engine, 12):
        direct = face_chip(image, face.detection, face.points, 150, 0.25)
        derived = inner_chip(face_chip(image, face.detection, face.points, 224, 0.4), 0.4, 150, 0.25)
        assert derived.shape == direct.shape
        assert np.abs(direct.astype(float) - derived).mean() < 2.0  # grey levels
        first, second = dlib.embed([direct, derived])
        cosines.append(float(first @ second))
    assert len(cosines) >= 10 and min(cosines) >= 0.999


def test_a_fused_similarity_weighs_dlibs_and_faceress(engine):
    folder = human_models_dir()
    fused = FusedEmbedder(str(packaged_weight(DLIB_WEIGHTS)), folder)
    dlib, faceres = DlibEmbedder(str(packaged_weight(DLIB_WEIGHTS))), HumanEmbedder(folder, "Human-FaceRes")
    (a_image, a), (b_image, b) = list(tiny_faces(engine, 2))[:2]
    chips = [face_chip(image, face.detection, face.points, fused.chip_size, fused.chip_padding)
             for image, face in ((a_image, a), (b_image, b))]
    vectors = fused.embed(chips)
    assert vectors.shape == (2, 128 + 1024)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    dlib_chips = [inner_chip(chip, fused.chip_padding, 150, 0.25) for chip in chips]
    dlib_vectors, faceres_vectors = dlib.embed(dlib_chips), faceres.embed(chips)
    expected = (1 - FACERES_WEIGHT) * dlib_vectors[0] @ dlib_vectors[1] \
        + FACERES_WEIGHT * faceres_vectors[0] @ faceres_vectors[1]
    assert vectors[0] @ vectors[1] == pytest.approx(expected, abs=1e-5)


def test_without_human_models_the_fused_model_names_the_command_that_installs_them(tmp_path):
    engine = FaceEngine(EngineConfig(model="Dlib+FaceRes", detector="mtcnn", models_dir=str(tmp_path)))
    with pytest.raises(EngineUnavailable, match="rekog-compat models install human-models"):
        engine.check_ready()
