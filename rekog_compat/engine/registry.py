"""The detectors (`--detector`) and embedders (`--model`) the engine can run, by name.

Each entry says what it is, the weights files it loads, the package that ships them (or the
code that runs it), that package's licence, the further packages it imports, and how to build
it. The command line's choices, `rekog-compat models` and the unknown-name error all come from
here: adding a model is adding one entry.

`package` is a PyPI distribution; `packaged` says whether it ships the `weights` (a `pip install`
provides them) or not (DeepFace's models: the files are copied into `<data dir>/.deepface/weights/`
by hand, since nothing downloads at run time). `licence` is the package's, from its metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from .config import default_models_dir
from .detection import DeepFaceDetector, Detector, DlibCnnDetector, DlibHogDetector, UnionDetector
from .embedding import DeepFaceEmbedder, DlibEmbedder, Embedder
from .model_packages import FACE_API, HUMAN_MODELS, SCRFD, ModelPackage
from .mtcnn import WEIGHTS_SHA256 as MTCNN_WEIGHTS
from .mtcnn import MtcnnDetector
from .weights import EngineUnavailable, packaged_weight

Kind = Literal["detector", "embedder"]
FLAGS: dict[str, str] = {"detector": "--detector", "embedder": "--model"}
LABELS: dict[str, str] = {"detector": "face detector", "embedder": "recognition model"}
T = TypeVar("T", Detector, Embedder)

DLIB = ("dlib-bin", "Boost Software License")
FACE_RECOGNITION_MODELS = ("face-recognition-models", "MIT")
DEEPFACE = ("deepface", "MIT")
MTCNN = ("mtcnn", "MIT")


@dataclass(frozen=True)
class Plugin(Generic[T]):
    name: str
    kind: Kind
    what: str
    package: str
    licence: str
    # the entry's name (for an npm model: its installed folder) -> a loaded model (imports what it needs only then)
    factory: Callable[[str], T]
    weights: tuple[str, ...] = ()
    packaged: bool = True
    requires: tuple[str, ...] = ()  # further PyPI packages it imports
    deepface: bool = False  # built by DeepFace: its downloader must be replaced first (weights.forbid_downloads)
    installed: ModelPackage | None = None  # its weights come from this package (`rekog-compat models install`)

    def build(self, models_dir: str = "") -> T:
        if self.installed is None:
            return self.factory(self.name)
        located = self.installed.locate(Path(models_dir)) if models_dir else None
        if located is None:
            command = self.installed.install_command
            if models_dir and Path(models_dir) != Path(default_models_dir()):
                command += f" --models-dir {models_dir}"
            raise EngineUnavailable(
                f"{self.name} needs {self.installed.spec}'s weights under {models_dir or '--models-dir'}: {command}"
            )
        return self.factory(str(located))


def _native_dlib_embedder(_: str) -> Embedder:
    return DlibEmbedder(str(packaged_weight("dlib_face_recognition_resnet_model_v1.dat")))


def _fused_embedder(human_models: str) -> Embedder:
    from .fusion import FusedEmbedder

    return FusedEmbedder(str(packaged_weight("dlib_face_recognition_resnet_model_v1.dat")), Path(human_models))


def _dlib_cnn_detector(_: str) -> Detector:
    return DlibCnnDetector(str(packaged_weight("mmod_human_face_detector.dat")))


def _mtcnn_detector(_: str) -> Detector:
    return MtcnnDetector()


def _scrfd_detector(model_dir: str) -> Detector:
    from .scrfd import ScrfdDetector

    return ScrfdDetector(Path(model_dir))


def _ssd_mobilenet_detector(model_dir: str) -> Detector:
    from .ssd_mobilenet import SsdMobilenetDetector

    return SsdMobilenetDetector(Path(model_dir))


def _mtcnn_and_ssd_detector(face_api: str) -> Detector:
    return UnionDetector("mtcnn+ssd-mobilenet", _mtcnn_detector(""), _ssd_mobilenet_detector(face_api))


def _deepface_detector(name: str, what: str, weights: tuple[str, ...] = (), *requires: str) -> Plugin[Detector]:
    return Plugin(name, "detector", what, *DEEPFACE, factory=DeepFaceDetector, weights=weights, packaged=False,
                  requires=requires, deepface=True)


def _deepface_embedder(name: str, what: str, weights: str, *requires: str) -> Plugin[Embedder]:
    return Plugin(name, "embedder", what, *DEEPFACE, factory=DeepFaceEmbedder, weights=(weights,), packaged=False,
                  requires=requires, deepface=True)


def _yolo(name: str) -> Plugin[Detector]:
    return _deepface_detector(name, f"YOLO face detector {name[4:]} (DeepFace)", (f"{name}-face.pt",), "ultralytics")


DETECTORS: tuple[Plugin[Detector], ...] = (
    Plugin("scrfd", "detector", "InsightFace's SCRFD-2.5G (the scrfd package's ONNX file), onnxruntime",
           f"{SCRFD.package} {SCRFD.version} (PyPI source distribution)", SCRFD.licence, factory=_scrfd_detector,
           weights=("scrfd.onnx",), packaged=False, installed=SCRFD),
    Plugin("dlib", "detector", "dlib's HOG face detector, run natively", *DLIB, factory=lambda _: DlibHogDetector()),
    Plugin("mtcnn", "detector", "MTCNN's three-network cascade (mtcnn's weights), onnxruntime, no TensorFlow",
           *MTCNN, factory=_mtcnn_detector, weights=tuple(MTCNN_WEIGHTS), requires=("joblib", "lz4")),
    Plugin("mtcnn+ssd-mobilenet", "detector", "MTCNN's faces and those of face-api's SSD MobileNet it misses",
           f"mtcnn + {FACE_API.package} (npm)", "MIT (both packages)", factory=_mtcnn_and_ssd_detector,
           weights=(*MTCNN_WEIGHTS, "ssd_mobilenetv1_model.bin"), packaged=False, installed=FACE_API,
           requires=("joblib", "lz4")),
    Plugin("dlib-cnn", "detector", "dlib's CNN (MMOD) face detector, run natively", *FACE_RECOGNITION_MODELS,
           factory=_dlib_cnn_detector, weights=("mmod_human_face_detector.dat",)),
    Plugin("ssd-mobilenet", "detector", "face-api's SSD MobileNet V1 (WIDER FACE), whole image and tiles, onnxruntime",
           f"{FACE_API.package} (npm)", FACE_API.licence, factory=_ssd_mobilenet_detector,
           weights=("ssd_mobilenetv1_model.bin",), packaged=False, installed=FACE_API),
    _deepface_detector("opencv", "OpenCV's Haar cascade (DeepFace)",
                       ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml")),
    _deepface_detector("ssd", "OpenCV's ResNet-10 SSD (DeepFace)",
                       ("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel")),
    _deepface_detector("fastmtcnn", "MTCNN of facenet-pytorch (DeepFace)", (), "facenet-pytorch"),
    _deepface_detector("retinaface", "RetinaFace (DeepFace)", ("retinaface.h5",), "retina-face"),
    _deepface_detector("mediapipe", "MediaPipe's face detector (DeepFace)", (), "mediapipe"),
    _deepface_detector("yunet", "OpenCV's YuNet (DeepFace)", ("face_detection_yunet_2023mar.onnx",)),
    _deepface_detector("centerface", "CenterFace (DeepFace)", ("centerface.onnx",)),
    *(_yolo(f"yolov{version}{size}") for version, sizes in (("8", "nml"), ("11", "nsml"), ("12", "nsml"))
      for size in sizes),
)

EMBEDDERS: tuple[Plugin[Embedder], ...] = (
    Plugin("Dlib", "embedder", "dlib's ResNet, 128-d, run natively", *FACE_RECOGNITION_MODELS,
           factory=_native_dlib_embedder, weights=("dlib_face_recognition_resnet_model_v1.dat",)),
    Plugin("Dlib+FaceRes", "embedder", "dlib's ResNet and Human's faceres (HSE MobileNet) fused, 1,152-d "
           "(engine/fusion.py)", f"{FACE_RECOGNITION_MODELS[0]} + {HUMAN_MODELS.package} (npm)",
           "MIT (both packages)", factory=_fused_embedder,
           weights=("dlib_face_recognition_resnet_model_v1.dat", "faceres.bin"), packaged=False,
           installed=HUMAN_MODELS),
    _deepface_embedder("ArcFace", "ArcFace, 512-d (DeepFace)", "arcface_weights.onnx"),
    _deepface_embedder("Facenet", "FaceNet, 128-d (DeepFace)", "facenet_weights.onnx"),
    _deepface_embedder("Facenet512", "FaceNet, 512-d (DeepFace)", "facenet512_weights.onnx"),
    _deepface_embedder("SFace", "OpenCV's SFace, 128-d (DeepFace)", "face_recognition_sface_2021dec.onnx"),
    _deepface_embedder("GhostFaceNet", "GhostFaceNet, 512-d (DeepFace)", "ghostfacenet_v1.onnx"),
    _deepface_embedder("VGG-Face", "VGG-Face (DeepFace)", "vgg_face_weights.onnx"),
    _deepface_embedder("OpenFace", "OpenFace, 128-d (DeepFace)", "openface_weights.onnx"),
    _deepface_embedder("DeepFace", "Facebook's DeepFace (DeepFace)", "VGGFace2_DeepFace_weights_val-0.9034.onnx"),
    _deepface_embedder("DeepID", "DeepID, 160-d (DeepFace)", "deepid_weights.onnx"),
    _deepface_embedder("Buffalo_L", "InsightFace's buffalo_l, 512-d (DeepFace)", "buffalo_l/webface_r50.onnx",
                       "insightface"),
)

ENTRIES: dict[str, tuple[Plugin[Detector], ...] | tuple[Plugin[Embedder], ...]] = {
    "detector": DETECTORS, "embedder": EMBEDDERS,
}


def names(kind: Kind) -> tuple[str, ...]:
    return tuple(entry.name for entry in ENTRIES[kind])


def _lookup(entries: tuple[Plugin[T], ...], kind: Kind, name: str) -> Plugin[T]:
    for entry in entries:
        if entry.name == name:
            return entry
    raise EngineUnavailable(f"unknown {LABELS[kind]} {name!r} ({FLAGS[kind]}); known: {', '.join(names(kind))}")


def detector(name: str) -> Plugin[Detector]:
    """The detector called `name`, or EngineUnavailable listing the known ones."""
    return _lookup(DETECTORS, "detector", name)


def embedder(name: str) -> Plugin[Embedder]:
    """The embedder (recognition model) called `name`, or EngineUnavailable listing the known ones."""
    return _lookup(EMBEDDERS, "embedder", name)
