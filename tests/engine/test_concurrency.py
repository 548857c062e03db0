"""The engine gives the same answer whether requests arrive one at a time or together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.engine.conftest import rgb
from tests.support.facedata import facedata_dir


def test_concurrent_detection_and_embedding_match_serial_results(engine):
    images = [rgb(p) for p in sorted((facedata_dir() / "lfw_dev").glob("*/*.jpg"))[:40]]

    def analyse(image: np.ndarray) -> tuple[list[tuple[float, ...]], np.ndarray]:
        faces = engine.detect(image)
        boxes = [f.detection.corners for f in faces]
        return boxes, engine.embed(faces)

    serial = [analyse(image) for image in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(analyse, images))
    for (boxes, vectors), (same_boxes, same_vectors) in zip(serial, together, strict=True):
        assert boxes == same_boxes
        assert np.array_equal(vectors, same_vectors)
