"""Detection recall against hand-labelled face boxes (dlib's examples, WIDER FACE val)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rekog_compat.engine import FaceEngine
from rekog_compat.engine.geometry import iou
from tests.engine.conftest import rgb
from tests.support.facedata import facedata_dir

Box = tuple[float, float, float, float]


def found(engine: FaceEngine, path: Path, truth: list[Box]) -> int:
    boxes = [f.detection.corners for f in engine.detect(rgb(path))]
    return sum(any(iou(t, b) >= 0.3 for b in boxes) for t in truth)


def test_every_labelled_face_in_dlibs_examples_is_found(engine):
    root = facedata_dir() / "dlib_examples_faces"
    hits = total = 0
    for labels in ("training.xml", "testing.xml"):
        for image in ET.parse(root / labels).getroot().iter("image"):
            truth = [
                (int(b.get("left", 0)), int(b.get("top", 0)),
                 int(b.get("left", 0)) + int(b.get("width", 0)), int(b.get("top", 0)) + int(b.get("height", 0)))
                for b in image.iter("box") if b.get("ignore") != "1"
            ]
            hits += found(engine, root / str(image.get("file")), truth)
            total += len(truth)
    assert total == 43
    assert hits / total >= 0.95, f"{hits}/{total}"


def test_most_wider_faces_of_40_px_and_more_are_found(engine):
    """HOG is a frontal detector: WIDER's crowds, profiles and occlusions cap it near 60 % (docs/engine.md)."""
    root = facedata_dir() / "wider_face_val_subset"
    annotations = json.loads((root / "annotations.json").read_text())
    hits = total = 0
    for name, labels in annotations.items():
        invalid = labels.get("invalid") or [0] * len(labels["boxes"])
        truth = [(x, y, x + w, y + h) for (x, y, w, h), bad in zip(labels["boxes"], invalid, strict=True)
                 if min(w, h) >= 40 and not bad]
        if truth:
            hits += found(engine, root / "images" / name, truth)
            total += len(truth)
    assert total > 400
    assert hits / total >= 0.58, f"{hits}/{total}"
