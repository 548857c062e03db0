"""The recognizer candidates of benchmarks/recognizers.py on real photos: lfw_tiny's pairs file (40 pairs of
one person, 40 of two), each face embedded from the default engine's detection and landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.calibrate import labelled_face
from benchmarks.lfw import read_pairs
from rekog_compat.engine.core import face_chip
from rekog_compat.engine.embedding import DlibEmbedder, Embedder
from rekog_compat.engine.human import human_embedder
from rekog_compat.engine.weights import packaged_weight
from tests.engine.conftest import rgb
from tests.support.facedata import facedata_dir
from tests.support.human_models import human_models_dir


def pair_similarities(engine, embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of lfw_tiny's same-person and different-person pairs whose two faces are found."""
    cache: dict = {}

    def vector(path):
        if path not in cache:
            image = rgb(path)
            face = labelled_face(engine, image)
            cache[path] = None if face is None else embedder.embed(
                [face_chip(image, face.detection, face.points, embedder.chip_size, embedder.chip_padding)])[0]
        return cache[path]

    same, different = [], []
    for first, second, is_same in read_pairs(facedata_dir() / "lfw_tiny" / "pairs_tiny.txt"):
        a, b = vector(first), vector(second)
        if a is not None and b is not None:
            (same if is_same else different).append(float(a @ b))
    return np.array(same), np.array(different)


def dlib_flip() -> Embedder:
    return DlibEmbedder(str(packaged_weight("dlib_face_recognition_resnet_model_v1.dat")), "Dlib-flip", flip=True)


@pytest.mark.parametrize("build", [dlib_flip, lambda: human_embedder(human_models_dir().parent, "Human-FaceRes")],
                         ids=["Dlib-flip", "Human-FaceRes"])
def test_one_person_is_closer_than_two_people(engine, build):
    same, different = pair_similarities(engine, build())
    assert len(same) >= 35 and len(different) >= 35
    assert np.median(same) > np.percentile(different, 90)
    # one threshold separates most pairs
    threshold = (np.median(same) + np.median(different)) / 2
    right = np.sum(same >= threshold) + np.sum(different < threshold)
    assert right / (len(same) + len(different)) >= 0.9


def test_flip_averaging_is_the_mean_of_the_chip_and_its_mirror(engine):
    image = rgb(sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[0])
    face = labelled_face(engine, image)
    assert face is not None
    plain = DlibEmbedder(str(packaged_weight("dlib_face_recognition_resnet_model_v1.dat")))
    both = plain.embed([face.chip, np.ascontiguousarray(face.chip[:, ::-1])])
    mean = both.sum(axis=0) / np.linalg.norm(both.sum(axis=0))
    flipped = dlib_flip().embed([face.chip])[0]
    assert np.allclose(flipped, mean, atol=1e-5)
    assert float(both[0] @ both[1]) < 0.9999  # the mirror image is a different input
