"""benchmarks/crowd.py's photo: a real 1920x1080 crowd with its WIDER labels scaled along."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.crowd import HEIGHT, MIN_FACE_PX, PHOTO, WIDTH, crowd_photo, found
from tests.support.facedata import facedata_dir


def test_the_crowd_photo_is_1920_by_1080_with_at_least_50_faces_of_40_px():
    root = facedata_dir() / "wider_face_val_subset"
    image, boxes, clear = crowd_photo(root)
    assert len(clear) == len(boxes) and 10 <= sum(clear) < len(clear)
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8 and image.std() > 20
    assert all(0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT for x0, y0, x1, y1 in boxes)
    assert sum(min(x1 - x0, y1 - y0) >= MIN_FACE_PX for x0, y0, x1, y1 in boxes) >= 50
    valid = sum(not invalid for invalid in json.loads((root / "annotations.json").read_text())[PHOTO]["invalid"])
    assert valid - 5 <= len(boxes) <= valid  # the cut keeps nearly every labelled face


def test_a_face_is_found_by_an_overlapping_box_and_not_by_a_distant_one():
    face = (100.0, 100.0, 160.0, 170.0)
    assert found([(105.0, 95.0, 165.0, 172.0)], [face]) == 1
    assert found([(300.0, 100.0, 360.0, 170.0), (100.0, 100.0, 400.0, 400.0)], [face]) == 0
