"""face-api's networks ported to numpy (Emotions, the SSD MobileNet detector) on real photos, against face-api
itself run by Node.js (tests/js/face_api.cjs)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import numpy as np
import pytest

from rekog_compat.engine.expressions import (
    MODEL_LABELS,
    ExpressionNet,
    Expressions,
    face_box,
    rekognition_emotions,
    square_input,
)
from rekog_compat.engine.model_packages import FACE_API
from rekog_compat.engine.ssd_mobilenet import (
    FACE_AT_INPUT_PX,
    INPUT_SIZE,
    MAX_TILES,
    MIN_SCORE,
    NMS_IOU,
    ZOOMED_OUT_MIN_INPUT_PX,
    OnnxSsdMobilenetNet,
    SsdMobilenetDetector,
    SsdMobilenetNet,
    suppress,
    tiles,
)
from rekog_compat.engine.tfjs import pad_to_square, read_tfjs_weights, resize_bilinear, resize_square_view
from rekog_compat.engine.weights import EngineUnavailable
from tests.engine.conftest import lfw_tiny_faces, rgb
from tests.support.expression_model import expression_model_dir
from tests.support.facedata import facedata_dir
from tests.support.js_sdk import js_dir

EIGHT = {"HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR"}


def test_the_numpy_port_gives_what_face_api_gives_on_real_faces(engine):
    model_dir = expression_model_dir()
    node_dir = js_dir()
    crops = []
    for image, face in lfw_tiny_faces(engine, 12):
        left, top, right, bottom = face_box(face.points, image.shape[1], image.shape[0])
        crops.append(image[top:bottom, left:right])
    payload = json.dumps([{"h": c.shape[0], "w": c.shape[1], "data": c.reshape(-1).tolist()} for c in crops])
    done = subprocess.run(["node", "face_api.cjs", "expressions", str(model_dir)], cwd=node_dir, input=payload,
                          capture_output=True, text=True, timeout=300, check=True)
    expected = np.array(json.loads(done.stdout))
    net = ExpressionNet.load(model_dir)
    ours = net.probabilities(np.stack([square_input(c) for c in crops]))
    assert expected.shape == ours.shape == (12, 7)
    assert np.abs(ours - expected).max() < 1e-4
    assert len(set(ours.argmax(axis=1))) > 1  # real faces, more than one expression among them


def face_api(mode: str, images: list[np.ndarray]) -> list:
    payload = json.dumps([{"h": i.shape[0], "w": i.shape[1], "data": i.reshape(-1).tolist()} for i in images])
    done = subprocess.run(["node", "face_api.cjs", mode, str(expression_model_dir())], cwd=js_dir(), input=payload,
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def test_the_ssd_port_finds_the_boxes_face_api_finds_in_one_pass():
    """One 512-px pass, as face-api's locateFaces makes it: the same faces, boxes within a pixel, same scores."""
    model_dir = expression_model_dir()
    root = facedata_dir()
    images = [rgb(root / "nonface_and_bad_inputs/faces_public_domain_and_formats/skimage_astronaut.png")]
    images += [rgb(path) for path in sorted((root / "wider_face_val_subset/images").glob("*/*.jpg"))[:3]]
    expected = face_api("ssd", images)
    net = SsdMobilenetDetector(model_dir)._net
    for image, theirs in zip(images, expected, strict=True):
        square = pad_to_square(image, centred=False)
        boxes, scores = net.forward(resize_bilinear(square, INPUT_SIZE)[np.newaxis])
        corners = np.clip(boxes[0], 0, 1)[:, [1, 0, 3, 2]] * square.shape[0]
        ours = [(float(scores[0][i]), *corners[i]) for i in suppress(corners, scores[0], NMS_IOU, MIN_SCORE)]
        assert len(ours) == len(theirs) and theirs, (len(ours), len(theirs))
        for (score, x0, y0, x1, y1), (their_score, left, top, width, height) in zip(
            sorted(ours), sorted(theirs), strict=True
        ):
            assert abs(score - their_score) < 1e-3
            assert np.allclose([x0, y0, x1, y1], [left, top, left + width, top + height], atol=1.0)


def test_tiles_cover_a_large_image_and_leave_a_small_one_whole():
    zoomed_out, whole = (-200, -250, 800), (0, 0, 400)  # centred in twice its long side; as it is
    assert tiles(400, 300) == [zoomed_out, whole]
    assert len(tiles(1024, 820)) == 2 + 4  # WIDER's photos: and 2 x 2 tiles
    found = tiles(1920, 1080)  # 4 x 2 tiles, each showing a 40-px face at FACE_AT_INPUT_PX
    assert found[1] == (0, 0, 1920) and len(found) == 2 + 8
    for left, top, side in found[2:]:
        assert left >= 0 and left + side <= 1920 and top >= 0 and top + side <= 1080
        assert 40 * INPUT_SIZE / side >= FACE_AT_INPUT_PX - 0.1
    assert {left for left, _, _ in found[2:]} >= {0, 1920 - found[2][2]}
    assert {top for _, top, _ in found[2:]} == {0, 1080 - found[2][2]}
    assert len(tiles(20000, 600)) <= 2 + MAX_TILES  # a long strip: fewer, larger tiles


def test_a_square_view_is_the_square_made_and_resized():
    """The detector's input squares are read straight from the image: the same pixels as face-api's
    padToSquare of the crop (or the photo centred in a black square) resized by resizeBilinear."""
    image = rgb(facedata_dir() / "wider_face_val_subset/images/0--Parade/0_Parade_Parade_0_873.jpg")
    height, width = image.shape[:2]
    for left, top, side in tiles(width, height):
        if left >= 0 and top >= 0:
            square = pad_to_square(image[top : top + side, left : left + side], centred=False)
        else:
            square = np.zeros((side, side, 3), dtype=np.uint8)
            square[-top : -top + height, -left : -left + width] = image
        assert np.array_equal(resize_square_view(image, left, top, side, INPUT_SIZE),
                              resize_bilinear(square, INPUT_SIZE))


def test_the_onnx_graph_gives_the_numpy_ports_outputs():
    """The detector runs the network through onnxruntime; the graph, built from the same weights, gives
    what the numpy port (checked against face-api above) gives on real photos."""
    model_dir = expression_model_dir()
    reference = SsdMobilenetNet.load(model_dir)
    onnx_net = OnnxSsdMobilenetNet(reference)
    root = facedata_dir()
    images = [rgb(root / "nonface_and_bad_inputs/faces_public_domain_and_formats/skimage_astronaut.png"),
              rgb(root / "wider_face_val_subset/images/0--Parade/0_Parade_Parade_0_873.jpg")]
    batch = np.stack([resize_bilinear(pad_to_square(image, centred=False), INPUT_SIZE) for image in images])
    boxes, scores = reference.forward(batch)
    onnx_boxes, onnx_scores = onnx_net.forward(batch)
    assert np.abs(onnx_scores - scores).max() < 1e-4
    assert np.abs(onnx_boxes - boxes).max() < 1e-4
    assert scores.max() > 0.9  # a real face scored, not two equal empty answers


def test_the_zoomed_out_pass_keeps_close_ups_only():
    """A WIDER family photo: zoomed out, its 30-px heads are 7 px at the network's input, where it scores
    boxes between two heads 0.9 and more (they made most of the false detections on WIDER); none of
    those reaches the answer, and the labelled faces do."""
    detector = SsdMobilenetDetector(expression_model_dir())
    root = facedata_dir() / "wider_face_val_subset"
    name = "20--Family_Group/20_Family_Group_Family_Group_20_33.jpg"
    image = rgb(root / "images" / name)
    height, width = image.shape[:2]
    labels = json.loads((root / "annotations.json").read_text())[name]
    labelled = [(x, y, x + w, y + h) for x, y, w, h in labels["boxes"]]
    left, top, side = tiles(width, height)[0]
    boxes, scores = detector._net.forward(resize_square_view(image, left, top, side, INPUT_SIZE)[np.newaxis])
    corners = np.clip(boxes[0], 0, 1)[:, [1, 0, 3, 2]] * side + [left, top, left, top]
    sides = np.minimum(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]) / side * INPUT_SIZE
    confident_small = [corners[i] for i in suppress(corners, scores[0], NMS_IOU, 0.9) if sides[i] < ZOOMED_OUT_MIN_INPUT_PX]
    between = [box for box in confident_small if all(_iou(box, face) < 0.3 for face in labelled)]
    assert len(between) >= 2, "the zoomed-out pass no longer scores these: this test needs another photo"
    found = [d.corners for d in detector.detect(image)]
    assert all(_iou(box, face) < 0.3 for box in between for face in found)
    faces = [box for box, invalid in zip(labelled, labels["invalid"], strict=True)
             if not invalid and min(box[2] - box[0], box[3] - box[1]) >= 30]  # the smallest the detector reports
    assert sum(any(_iou(face, box) >= 0.3 for box in found) for face in faces) >= 0.8 * len(faces)


def _iou(a: tuple[float, ...] | np.ndarray, b: tuple[float, ...] | np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def test_a_close_up_face_is_found_by_the_zoomed_out_pass():
    """LFW's portraits: one pass over the photo scores the face 0.2 (it fills too much of the input)."""
    detector = SsdMobilenetDetector(expression_model_dir())
    image = rgb(facedata_dir() / "lfw_dev/Abel_Pacheco/Abel_Pacheco_0003.jpg")
    found = detector.detect(image)
    assert len(found) == 1 and found[0].confidence > 90
    assert 40 < found[0].left < found[0].right < 210 and 40 < found[0].top < found[0].bottom < 220


def test_the_ssd_detector_on_blank_tiny_and_odd_images_finds_no_face_and_does_not_fail():
    detector = SsdMobilenetDetector(expression_model_dir())
    for shape in ((1, 1, 3), (1, 500, 3), (3, 3, 3), (480, 640, 3), (1080, 1920, 3)):
        assert detector.detect(np.zeros(shape, dtype=np.uint8)) == []


def test_happy_as_the_top_emotion_agrees_with_the_smile_measure(engine):
    """Two independent reads of a face (the expression network, the mouth's geometry) agree on most photos."""
    expressions = Expressions(expression_model_dir())
    agree = total = 0
    for image, face in lfw_tiny_faces(engine, 60):
        happy = rekognition_emotions(expressions.probabilities(image, face.points))[0]["Type"] == "HAPPY"
        smiling = engine.attributes(image, face, {"Smile"})["Smile"]["Value"]
        agree += happy == smiling
        total += 1
    assert total == 60
    assert agree / total >= 0.8  # measured 0.87 on these 60 photos


def test_rekognition_emotions_are_eight_sorted_and_sum_to_100():
    sure = rekognition_emotions(np.array([0.0, 1.0, 0, 0, 0, 0, 0]))
    assert {e["Type"] for e in sure} == EIGHT
    assert sure[0] == {"Type": "HAPPY", "Confidence": pytest.approx(100.0)}
    assert next(e for e in sure if e["Type"] == "CONFUSED")["Confidence"] == pytest.approx(0.0, abs=1e-6)
    torn = rekognition_emotions(np.full(7, 1 / 7))  # the model cannot tell: most of it is CONFUSED
    assert torn[0] == {"Type": "CONFUSED", "Confidence": pytest.approx(100 * 6 / 7)}
    for emotions in (sure, torn, rekognition_emotions(np.array([0.5, 0.5, 0, 0, 0, 0, 0]))):
        confidences = [e["Confidence"] for e in emotions]
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) == pytest.approx(100.0)
    assert MODEL_LABELS[0] == "neutral"  # neutral is Rekognition's CALM
    assert rekognition_emotions(np.array([1.0, 0, 0, 0, 0, 0, 0]))[0]["Type"] == "CALM"


@pytest.mark.parametrize(
    ("shape", "points"),
    [
        ((480, 640, 3), np.array([[0.0, 0.0], [0.4, 0.6]])),  # a face of under a pixel, at the corner
        ((480, 640, 3), np.array([[630.0, 300.0], [660.0, 500.0]])),  # reaching past the right edge
        ((480, 640, 3), np.array([[700.0, 500.0], [760.0, 560.0]])),  # wholly outside, below right
        ((1, 1, 3), np.array([[0.0, 0.0], [0.0, 0.0]])),  # a one-pixel image
        ((200, 40, 3), np.array([[0.0, 0.0], [39.0, 199.0]])),  # tall and thin
    ],
)
def test_tiny_edge_and_black_crops_give_a_distribution(shape, points):
    expressions = Expressions(expression_model_dir())
    p = expressions.probabilities(np.zeros(shape, dtype=np.uint8), points)
    assert p.shape == (7,) and np.isfinite(p).all() and math.isclose(float(p.sum()), 1.0, rel_tol=1e-5)


def test_a_model_file_changed_after_install_is_refused_naming_the_install_command(tmp_path):
    installed = expression_model_dir()
    copy = FACE_API.directory(tmp_path)
    shutil.copytree(installed, copy)
    assert FACE_API.locate(tmp_path) == copy
    weights = copy / "face_expression_model.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(EngineUnavailable, match="rekog-compat models install face-api"):
        FACE_API.locate(tmp_path)
    assert FACE_API.locate(tmp_path / "nothing") is None  # never installed: no Emotions, no error


def test_weights_with_bytes_left_over_are_refused(tmp_path):
    installed = expression_model_dir()
    for name in ("face_expression_model-weights_manifest.json", "face_expression_model.bin"):
        shutil.copy(installed / name, tmp_path / name)
    with (tmp_path / "face_expression_model.bin").open("ab") as stream:
        stream.write(b"\0" * 4)
    with pytest.raises(ValueError, match="left over"):
        read_tfjs_weights(tmp_path / "face_expression_model-weights_manifest.json")
