"""The MTCNN detector: its networks against the `mtcnn` package's own (TensorFlow), and its weights' checks."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from rekog_compat.engine import mtcnn
from rekog_compat.engine.weights import EngineUnavailable
from tests.engine.conftest import rgb
from tests.engine.reference.make_mtcnn_reference import crops
from tests.support.facedata import facedata_dir

REFERENCE = Path(__file__).parent / "reference" / "mtcnn_tensorflow.npz"


@pytest.fixture(scope="module")
def detector() -> mtcnn.MtcnnDetector:
    return mtcnn.MtcnnDetector()


def test_each_network_gives_what_the_mtcnn_package_gives_in_tensorflow(detector):
    """The outputs were written by the package itself (reference/make_mtcnn_reference.py)."""
    reference = np.load(REFERENCE)
    sessions = {"pnet": detector._proposal, "rnet": detector._refine, "onet": detector._output}
    heads = {"pnet": ("offsets", "faces"), "rnet": ("offsets", "faces"), "onet": ("offsets", "landmarks", "faces")}
    compared = 0
    for index in range(4):
        image = rgb(facedata_dir() / str(reference[f"photo_{index}"]))
        for name, crop in crops(image).items():
            outputs = sessions[name].run(None, {"image": np.ascontiguousarray(crop[None].transpose(0, 3, 1, 2))})
            for head, value in zip(heads[name], outputs, strict=True):
                got = value[0].transpose(1, 2, 0) if name == "pnet" else value[0]  # P-Net's maps: NCHW here
                expected = reference[f"{name}_{head}_{index}"]
                assert got.shape == expected.shape
                np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"{name} {head}, photo {index}")
                compared += 1
    assert compared == 4 * 7


def test_the_face_in_a_portrait_is_found_and_nothing_else(detector):
    path = sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[0]
    faces = detector.detect(rgb(path))
    assert len(faces) == 1
    face = faces[0]
    assert face.confidence >= 100 * mtcnn.MIN_CONFIDENCE
    # LFW's photos are 250 px, centred on the labelled face
    assert abs((face.left + face.right) / 2 - 125) < 25 and abs((face.top + face.bottom) / 2 - 125) < 35
    assert 60 < face.right - face.left < 180


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 700, 3), (11, 11, 3), (40, 40, 3)])
def test_tiny_and_empty_images_give_no_face_and_no_error(detector, shape):
    assert detector.detect(np.zeros(shape, dtype=np.uint8)) == []


def test_a_changed_weights_file_is_refused_naming_the_package(tmp_path):
    for name in mtcnn.WEIGHTS_SHA256:
        shutil.copy(mtcnn.weights_dir() / name, tmp_path / name)
    changed = tmp_path / "rnet.lz4"
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    with pytest.raises(EngineUnavailable, match=r"rnet\.lz4 is missing or not mtcnn 1\.0's; reinstall it: pip install"):
        mtcnn.MtcnnDetector(tmp_path)


def test_without_the_package_the_error_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mtcnn" else real(name, *a))
    with pytest.raises(EngineUnavailable, match=r"pip install 'mtcnn'"):
        mtcnn.weights_dir()


@pytest.mark.parametrize("visible", [1, 3, 20, 60, 90, 105])
def test_a_face_cut_by_the_image_edge_is_measured_or_left_out_never_an_error(engine, visible):
    """The portrait's face slid right until only `visible` columns of it remain: every face the engine returns
    lies in the image with a box of at least a pixel, and its landmarks, pose and chip are computed; with most
    of the face left, it is found at the edge."""
    portrait = rgb(sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[0])
    width = portrait.shape[1]
    shift = width - visible - 70  # LFW's face spans about x 70..190 of its 250 px: its left edge to width - visible
    image = np.zeros_like(portrait)
    image[:, shift:] = portrait[:, : width - shift]
    faces = engine.detect(image)
    if visible >= 90:
        assert any(f.detection.right >= image.shape[1] - 10 for f in faces), [f.detection for f in faces]
    for face in faces:
        d = face.detection
        assert 0 <= d.left < d.right <= image.shape[1] and 0 <= d.top < d.bottom <= image.shape[0]
        assert d.right - d.left >= 1 and face.chip.shape[:2] == (150, 150)
        assert np.isfinite(face.points).all() and all(np.isfinite(v) for v in face.pose.values())
