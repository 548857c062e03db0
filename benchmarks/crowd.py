"""DetectFaces on a 1920x1080 crowd photo: how many of its labelled faces of 40 px or more come back, and how fast.

    python -m benchmarks.crowd [--detector mtcnn] [--repeat 3] [--http] [--json OUT]

The photo: WIDER FACE val `0--Parade/0_Parade_Parade_0_873.jpg` of `<facedata>/wider_face_val_subset`
(1024x687, 141 valid labelled faces), scaled by 1920/1024 (bilinear) to 1920x1288 and cut to the
1080 rows holding the most labelled faces whole, so that it is 1920x1080 with its labels scaled the
same way. Built in memory each run; nothing is written.

A labelled face counts when it is valid (WIDER's `invalid` 0), wholly inside the cut, and its shorter
side is at least 40 px (Rekognition's smallest face at 1080p); it is found when a returned face box
overlaps it with IoU >= 0.3, as in benchmarks/detectors.py. Counted also among the clear ones only
(WIDER's occlusion 0 and pose 0, "typical": WIDER labels profiles, turned and half-hidden heads too).

Measured, wall-clock (`time.perf_counter`), after one untimed warm-up call:
- `detector`: the detector alone on the decoded pixels;
- `engine`: `FaceEngine.detect` (what DetectFaces computes for every face: detection, the 68 landmarks,
  pose, quality, the aligned chip), at most 100 faces, largest first;
- `http` (--http): DetectFaces through the real server (`rekog-compat serve`, as benchmarks/engine.py
  starts it) with boto3, the photo sent as JPEG (quality 95) bytes: the whole round trip.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.facedata import facedata_location
from rekog_compat.config import default_models_dir
from rekog_compat.engine.config import EngineConfig
from rekog_compat.engine.core import FaceEngine
from rekog_compat.options import MODELS_DIR

from .detectors import Box, iou

PHOTO = "0--Parade/0_Parade_Parade_0_873.jpg"
WIDTH, HEIGHT = 1920, 1080
MIN_FACE_PX = 40


def crowd_photo(root: Path) -> tuple[np.ndarray, list[Box], list[bool]]:
    """The 1920x1080 RGB photo, the boxes (x0, y0, x1, y1) of its valid faces wholly inside it, and for
    each whether WIDER calls it clear: not occluded and in a typical pose (not a profile or turned away)."""
    labels = json.loads((root / "annotations.json").read_text())[PHOTO]
    image = Image.open(root / "images" / PHOTO).convert("RGB")
    scale = WIDTH / image.width
    scaled = image.resize((WIDTH, round(image.height * scale)), Image.Resampling.BILINEAR)
    faces = [((x * scale, y * scale, (x + w) * scale, (y + h) * scale), occlusion == 0 and pose == 0)
             for (x, y, w, h), invalid, occlusion, pose in zip(
                 labels["boxes"], labels["invalid"], labels["occlusion"], labels["pose"], strict=True)
             if not invalid]

    def inside(top: int) -> list[tuple[Box, bool]]:
        return [((x0, y0 - top, x1, y1 - top), clear) for (x0, y0, x1, y1), clear in faces
                if y0 >= top and y1 <= top + HEIGHT]

    top = max(range(scaled.height - HEIGHT + 1), key=lambda t: len(inside(t)))
    kept = inside(top)
    return (np.asarray(scaled.crop((0, top, WIDTH, top + HEIGHT))), [box for box, _ in kept],
            [clear for _, clear in kept])


def found(returned: list[Box], labelled: list[Box]) -> int:
    return sum(any(iou(box, r) >= 0.3 for r in returned) for box in labelled)


def timed(call: Any, repeat: int) -> tuple[list[float], Any]:
    """Wall-clock seconds of `repeat` calls after one warm-up, and the last call's result."""
    result = call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return times, result


def http_detect_faces(jpeg: bytes, detector: str, models_dir: str, repeat: int) -> tuple[list[float], list[Box]]:
    """DetectFaces through a real server: seconds per call and the face boxes in pixels."""
    from harness.live_server import LiveServer

    from .engine import rekognition_client

    with tempfile.TemporaryDirectory(prefix="rekog-crowd-") as temp:
        server = LiveServer(Path(temp) / "data", "--detector", detector, "--models-dir", models_dir)
        try:
            server.start(timeout=120)
            client = rekognition_client(server.url)
            times, answer = timed(lambda: client.detect_faces(Image={"Bytes": jpeg}), repeat)
        finally:
            server.stop()
    boxes = [f["BoundingBox"] for f in answer["FaceDetails"]]
    return times, [(b["Left"] * WIDTH, b["Top"] * HEIGHT, (b["Left"] + b["Width"]) * WIDTH,
                    (b["Top"] + b["Height"]) * HEIGHT) for b in boxes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", default=EngineConfig.detector)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--http", action="store_true")
    MODELS_DIR.add(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    models_dir = str(args.models_dir or default_models_dir())
    rgb, labelled, clear = crowd_photo(facedata_location() / "wider_face_val_subset")
    large = [b for b in labelled if min(b[2] - b[0], b[3] - b[1]) >= MIN_FACE_PX]
    large_clear = [b for b, c in zip(labelled, clear, strict=True)
                   if c and min(b[2] - b[0], b[3] - b[1]) >= MIN_FACE_PX]
    engine = FaceEngine(EngineConfig(detector=args.detector, models_dir=models_dir))
    engine.check_ready()
    detector, _, _ = engine._models()
    result: dict[str, Any] = {"photo": PHOTO, "size": f"{WIDTH}x{HEIGHT}", "labelled_faces": len(labelled),
                              "labelled_faces_40px": len(large), "labelled_clear_faces_40px": len(large_clear),
                              "detector": args.detector}
    times, detections = timed(lambda: detector.detect(rgb), args.repeat)
    boxes = [d.corners for d in detections]
    result["detector"] = {"s": times, "returned": len(detections), "found_40px": found(boxes, large),
                          "found_clear_40px": found(boxes, large_clear)}
    times, faces = timed(lambda: engine.detect(rgb), args.repeat)
    boxes = [f.detection.corners for f in faces]
    result["engine"] = {"s": times, "returned": len(faces), "found_40px": found(boxes, large),
                        "found_clear_40px": found(boxes, large_clear),
                        "largest_first": all(a.detection.area >= b.detection.area
                                             for a, b in zip(faces, faces[1:], strict=False))}
    if args.http:
        jpeg = io.BytesIO()
        Image.fromarray(rgb).save(jpeg, format="JPEG", quality=95)
        times, returned = http_detect_faces(jpeg.getvalue(), args.detector, models_dir, args.repeat)
        result["http"] = {"s": times, "returned": len(returned), "found_40px": found(returned, large),
                          "found_clear_40px": found(returned, large_clear)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
