"""`--detector mtcnn+ssd-mobilenet`: MTCNN's faces and the ones SSD MobileNet finds that MTCNN does not."""

from __future__ import annotations

import json

import pytest

from rekog_compat.engine import registry
from rekog_compat.engine.detection import Detection, Detector, same_face
from rekog_compat.engine.geometry import iou
from rekog_compat.engine.mtcnn import MtcnnDetector
from tests.engine.conftest import rgb
from tests.support.expression_model import expression_model_dir
from tests.support.facedata import facedata_dir


@pytest.fixture(scope="module")
def union() -> Detector:
    models_dir = expression_model_dir().parent  # skips where `rekog-compat models install` has not run
    return registry.detector("mtcnn+ssd-mobilenet").build(str(models_dir))


def test_one_face_seen_by_both_is_one_face():
    mtcnn_box = Detection(100, 100, 160, 160, 99.0)
    assert same_face(mtcnn_box, Detection(104, 92, 158, 166, 80.0))  # SSD's taller box of the same face
    assert same_face(mtcnn_box, Detection(110, 110, 150, 200, 60.0))  # more than half of it inside
    assert not same_face(mtcnn_box, Detection(170, 100, 230, 160, 90.0))  # the neighbour
    assert not same_face(mtcnn_box, Detection(150, 150, 210, 210, 90.0))  # a corner overlapping


def test_the_union_keeps_mtcnns_faces_and_adds_only_new_ones_that_are_wider_faces(union):
    root = facedata_dir() / "wider_face_val_subset"
    annotations = json.loads((root / "annotations.json").read_text())
    mtcnn = MtcnnDetector()
    found = {"mtcnn": 0, "union": 0}
    added = 0
    for name in sorted(annotations)[:30]:
        image = rgb(root / "images" / name)
        alone, both = mtcnn.detect(image), union.detect(image)
        assert both[: len(alone)] == alone
        extra = both[len(alone):]
        assert not any(same_face(e, a) for e in extra for a in alone)
        added += len(extra)
        labels = annotations[name]
        truth = [(x, y, x + w, y + h) for (x, y, w, h), bad in zip(labels["boxes"], labels["invalid"], strict=True)
                 if min(w, h) >= 40 and not bad]
        for key, faces in (("mtcnn", alone), ("union", both)):
            found[key] += sum(any(iou(t, f.corners) >= 0.3 for f in faces) for t in truth)
    assert added > 0
    assert found["union"] > found["mtcnn"], found
