"""Landmarks for another detector's faces start from HOG's own box of the face (DlibHogDetector.box_near):
dlib's 68-point model was trained on HOG's boxes."""

from __future__ import annotations

import numpy as np
import pytest

from rekog_compat.engine import EngineConfig, FaceEngine
from rekog_compat.engine.detection import Detection, DlibHogDetector
from rekog_compat.engine.geometry import iou
from tests.engine.conftest import lfw_tiny_faces, rgb
from tests.support.expression_model import expression_model_dir
from tests.support.facedata import facedata_dir


def ssd_like(d: Detection) -> Detection:
    """A box as face-api's SSD draws the face HOG boxes as `d` (measured on WIDER: 12 % narrower, 25 %
    taller, centred 6 % higher)."""
    width, height = (d.right - d.left) / 1.12, (d.bottom - d.top) / 0.8
    x, y = (d.left + d.right) / 2, (d.top + d.bottom) / 2 - 0.06 * height
    return Detection(x - width / 2, y - height / 2, x + width / 2, y + height / 2, 90.0)


def test_hogs_own_box_is_found_from_another_detectors_box_of_the_face(hog_engine):
    hog = DlibHogDetector()
    faces = lfw_tiny_faces(hog_engine, 20)
    overlaps = []
    for image, face in faces:
        refit = hog.box_near(image, ssd_like(face.detection))
        assert refit is not None
        # HOG's window is square (SSD's box of a face is 0.7 as wide as high)
        assert 0.85 <= (refit.right - refit.left) / (refit.bottom - refit.top) <= 1.2
        overlaps.append(iou(refit.corners, face.detection.corners))
    # the same face at another step of HOG's scale pyramid: not always the same box
    assert min(overlaps) >= 0.6 and np.median(overlaps) >= 0.8, [round(o, 2) for o in overlaps]


def test_no_box_is_made_up_where_hog_sees_no_face():
    hog = DlibHogDetector()
    image = rgb(sorted((facedata_dir() / "nonface_and_bad_inputs" / "nonface_real").glob("*.jpg"))[0])
    height, width = image.shape[:2]
    assert hog.box_near(image, Detection(width / 4, height / 4, width / 2, height / 2, 90.0)) is None
    for tiny in (Detection(0, 0, 1, 1, 90.0), Detection(width - 1, height - 1, width, height, 90.0),
                 Detection(width + 5, height + 5, width + 50, height + 50, 90.0)):
        assert hog.box_near(image, tiny) is None


@pytest.mark.parametrize("detector", ["mtcnn", "ssd-mobilenet"])
def test_another_detectors_faces_get_landmarks_as_hogs_would(hog_engine, tmp_path, detector):
    """MTCNN (the default) and face-api's SSD (when installed): the landmarks of lfw_tiny faces are within 2 % of
    the eye distance of the HOG pipeline's (started from SSD's own box they are 3 % off, and rank-1 on lfw_dev
    drops 3 points)."""
    models_dir = expression_model_dir().parent if detector == "ssd-mobilenet" else tmp_path  # skips: not installed
    other = FaceEngine(EngineConfig(detector=detector, models_dir=str(models_dir), deepface_home=str(tmp_path)))
    offsets = []
    for image, face in lfw_tiny_faces(hog_engine, 30):
        found = other.detect(image, 1)
        assert found, f"{detector} finds every face HOG finds in lfw_tiny"
        if iou(found[0].detection.corners, face.detection.corners) < 0.3:
            continue  # another face of the photo is the largest for SSD
        eyes = np.linalg.norm(face.points[36:42].mean(axis=0) - face.points[42:48].mean(axis=0))
        offsets.append(float(np.mean(np.linalg.norm(found[0].points - face.points, axis=1)) / eyes))
        assert found[0].detection != face.detection  # the BoundingBox stays the detector's
    assert len(offsets) >= 25
    assert np.median(offsets) <= 0.02, offsets


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (40, 2)])
def test_degenerate_images_give_no_box(size):
    image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    assert DlibHogDetector().box_near(image, Detection(0, 0, size[0], size[1], 90.0)) is None
