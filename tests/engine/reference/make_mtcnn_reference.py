"""Writes mtcnn_tensorflow.npz: the `mtcnn` package's own networks (TensorFlow) on fixed crops of lfw_tiny photos.

tests/engine/test_mtcnn.py checks the onnxruntime port (rekog_compat/engine/mtcnn.py) against these outputs, so
that the check needs no TensorFlow. Run once, in a separate venv (TensorFlow pins its own numpy):

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu mtcnn==1.0.0 pillow
    /tmp/tf/bin/python tests/engine/reference/make_mtcnn_reference.py ../shared/facedata tests/engine/reference/mtcnn_tensorflow.npz

The crops are strided slices (no resize), so both sides feed the networks the same numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = 4


def crops(image: np.ndarray) -> dict[str, np.ndarray]:
    """The network inputs of one photo (RGB 0..255), normalised as MTCNN normalises: P-Net and O-Net 48 x 48,
    R-Net 24 x 24, all from the photo's centre. tests/engine/test_mtcnn.py imports this."""
    def normalised(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) - 127.5) / 128.0

    return {"pnet": normalised(image[60:204:3, 60:204:3]), "rnet": normalised(image[60:204:6, 60:204:6]),
            "onet": normalised(image[60:204:3, 60:204:3])}


def main(facedata: Path, output: Path) -> None:
    from mtcnn.network.onet import ONet
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet
    from mtcnn.utils.tensorflow import load_weights

    networks = {}
    for cls, name in ((PNet, "pnet"), (RNet, "rnet"), (ONet, "onet")):
        network = cls()
        network.build()
        network.set_weights(load_weights(f"{name}.lz4"))
        networks[name] = network
    heads = {"pnet": ("offsets", "faces"), "rnet": ("offsets", "faces"), "onet": ("offsets", "landmarks", "faces")}
    out: dict[str, np.ndarray] = {}
    for index, path in enumerate(sorted((facedata / "lfw_tiny").glob("*/*.jpg"))[:PHOTOS]):
        out[f"photo_{index}"] = np.array(str(path.relative_to(facedata)))
        for name, batch in crops(np.asarray(Image.open(path).convert("RGB"))).items():
            for head, value in zip(heads[name], networks[name](batch[None]), strict=True):
                out[f"{name}_{head}_{index}"] = value.numpy()[0]
    np.savez_compressed(output, **out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
