"""What the engine is asked to run: a recognition model and a face detector."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "Dlib"
DEFAULT_DETECTOR = "scrfd"


def default_data_dir() -> str:
    return str(Path.home() / ".rekog-compat")


def default_models_dir(data_dir: str = "") -> str:
    """Where `rekog-compat models install` puts the models it fetches: `models/` in the data dir (the default
    one if none)."""
    return str(Path(data_dir or default_data_dir()) / "models")


@dataclass(frozen=True)
class EngineConfig:
    """`model`: an embedder of `registry.EMBEDDERS` (Dlib, ArcFace, Facenet512, SFace, ...).

    `detector`: a detector of `registry.DETECTORS`: `scrfd` (SCRFD on onnxruntime, after `rekog-compat models
    install scrfd`), `mtcnn` (MTCNN on onnxruntime), `dlib` (dlib's HOG
    detector, run natively), `dlib-cnn`, `ssd-mobilenet`, `mtcnn+ssd-mobilenet` or a DeepFace detector backend
    (opencv, ssd, retinaface, yunet, centerface, ...).
    `deepface_home` is where DeepFace looks for weights (`<home>/.deepface/weights`).
    `models_dir` holds the models `rekog-compat models install` fetched (default: the default data dir's, where
    a bare install puts them); "" for none.
    """

    model: str = DEFAULT_MODEL
    detector: str = DEFAULT_DETECTOR
    deepface_home: str = ""
    models_dir: str = field(default_factory=default_models_dir)
