"""Two embedders as one: score-level fusion of Dlib and Human's faceres (`--model Dlib+FaceRes`).

Each face's vector is Dlib's unit vector times sqrt(1 - W) beside faceres's unit vector times sqrt(W), so
that the cosine similarity of two faces is (1 - W) times Dlib's plus W times faceres's, and the store, the
search and the Similarity calibration treat it as any other model's vector (128 + 1024 = 1,152-d).

Both are fed from one aligned chip: faceres's own (224 px, padding 0.4); Dlib's 150-px chip with padding
0.25 is the middle 1.5 / 1.8 of it, cut and scaled from it (the same dlib alignment, resampled once more:
cosine to the directly cut chip's embedding >= 0.999, tests/engine/test_fusion.py).

W = FACERES_WEIGHT makes the two parts' impostor scores spread alike on lfw_dev (standard deviation of
Dlib's impostor similarities 0.035, faceres's 0.076: W = 0.035 / (0.035 + 0.076)); it was set from the
impostor pairs alone, not tuned on the genuine ones (docs/engine.md, Recognizers compared).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .embedding import DLIB_CHIP_PADDING, DLIB_CHIP_SIZE, DlibEmbedder
from .human import FACERES_CHIP_PADDING, HumanEmbedder

FACERES_WEIGHT = 0.3


def fuse_vectors(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Unit rows of two models side by side, weighted so that a cosine similarity of the result is
    (1 - weight) times the first model's plus weight times the second's (score-level fusion in one vector)."""
    first, second = np.atleast_2d(first), np.atleast_2d(second)
    return np.hstack([first * np.float32(np.sqrt(1.0 - weight)), second * np.float32(np.sqrt(weight))])


def inner_chip(chip: np.ndarray, padding: float, size: int, inner_padding: float) -> np.ndarray:
    """The chip dlib would cut at `size` px and `inner_padding` from the same face, taken from `chip` (cut with
    the larger `padding`): dlib's template spans 1 + 2 * padding of a chip's width, centred."""
    outer = chip.shape[1]
    span = outer * (1 + 2 * inner_padding) / (1 + 2 * padding)  # the inner chip's width in outer pixels
    scale = size / span
    shift = (size - 1) / 2 - scale * (outer - 1) / 2  # the centres (of pixels, of the chips) coincide
    matrix = np.array([[scale, 0.0, shift], [0.0, scale, shift]], dtype=np.float64)
    return cv2.warpAffine(np.ascontiguousarray(chip), matrix, (size, size), flags=cv2.INTER_AREA)


class FusedEmbedder:
    """Dlib and faceres, weighted (1 - W, W), as one embedder; model name `Dlib+FaceRes`."""

    verification_threshold: float | None = None  # calibrated: calibration/<model>.json

    def __init__(self, dlib_weights: str, human_models: Path, weight: float = FACERES_WEIGHT,
                 model: str = "Dlib+FaceRes") -> None:
        """`human_models`: the installed human-models folder (`rekog-compat models install human-models`)."""
        self.model = model
        self._dlib = DlibEmbedder(dlib_weights)
        self._faceres = HumanEmbedder(human_models, "Human-FaceRes")
        self.chip_size = self._faceres.chip_size
        self.chip_padding = FACERES_CHIP_PADDING
        self._weight = weight

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 1), dtype=np.float32)
        dlib_chips = [inner_chip(c, self.chip_padding, DLIB_CHIP_SIZE, DLIB_CHIP_PADDING) for c in chips]
        return fuse_vectors(self._dlib.embed(dlib_chips), self._faceres.embed(chips), self._weight)
