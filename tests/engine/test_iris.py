"""EyeDirection from Human's iris model (engine/iris.py) on real LFW photos: the numpy graph against TF.js
itself (Node.js, tests/js/human_graph.cjs), and the gaze it gives on portraits and on their mirror images."""

from __future__ import annotations

import numpy as np
import pytest

from rekog_compat.engine.iris import CORNERS, IRIS_OUTPUT, IrisModel
from tests.engine.conftest import lfw_tiny_faces
from tests.engine.test_human_ports import tfjs
from tests.support.human_models import iris_model_dir


@pytest.fixture(scope="module")
def iris() -> IrisModel:
    return IrisModel(iris_model_dir())


def test_the_numpy_iris_graph_gives_what_tfjs_gives_on_real_eye_crops(engine, iris):
    batch = np.concatenate([iris.crops(image, face.points)[0] for image, face in lfw_tiny_faces(engine, 3)])
    expected = tfjs(iris_model_dir() / "iris.json", IRIS_OUTPUT, batch)
    ours = iris.graph.run(batch)[IRIS_OUTPUT]
    assert ours.shape == expected.shape == (6, 1, 1, 228)
    difference = float(np.abs(ours - expected).max())
    print(f"iris: max abs difference {difference:.2e} (crop pixels; largest |value| {np.abs(expected).max():.3g})")
    assert difference <= 1e-4


def test_the_models_eye_corners_land_on_dlibs(engine, iris):
    """The crop, its mirroring and the way back to image pixels: the model's corners fall near dlib's."""
    for image, face in lfw_tiny_faces(engine, 6):
        for fit, (outer, inner) in zip(iris.eyes(image, face.points), ((36, 39), (45, 42)), strict=True):
            width = np.linalg.norm(face.points[outer] - face.points[inner])
            assert np.linalg.norm(fit.contour[CORNERS[0], :2] - face.points[outer]) < 0.35 * width
            assert np.linalg.norm(fit.contour[CORNERS[1], :2] - face.points[inner]) < 0.35 * width
            eye = face.points[min(outer, inner):min(outer, inner) + 6]
            assert np.linalg.norm(fit.iris[0, :2] - eye.mean(axis=0)) < 0.35 * width  # the iris is in the eye


def test_portraits_look_near_the_camera_and_a_mirror_turns_the_yaw(engine, iris):
    yaws, pitches, mirrored, confidences = [], [], [], []
    for image, face in lfw_tiny_faces(engine, 16):
        eyes = iris.eye_direction(image, face.points, face.pose["Yaw"])["EyeDirection"]
        yaws.append(eyes["Yaw"])
        pitches.append(eyes["Pitch"])
        confidences.append(eyes["Confidence"])
        flipped = np.ascontiguousarray(image[:, ::-1])
        other = engine.detect(flipped, 1)[0]
        mirrored.append(iris.eye_direction(flipped, other.points, other.pose["Yaw"])["EyeDirection"]["Yaw"])
    # LFW's subjects mostly look into the camera
    assert np.median(np.abs(yaws)) < 8 and np.percentile(np.abs(yaws), 90) < 15
    assert np.median(np.abs(pitches)) < 12 and np.percentile(np.abs(pitches), 90) < 18
    # the mirror image looks the other way: yaw and mirrored yaw strongly anti-correlated, of opposite sign
    # wherever the gaze is clearly to one side
    assert np.corrcoef(yaws, mirrored)[0, 1] < -0.5
    clear = [(a, b) for a, b in zip(yaws, mirrored, strict=True) if abs(a) > 4]
    assert clear and sum(a * b < 0 for a, b in clear) >= 0.75 * len(clear)
    assert all(0 <= c <= 100 for c in confidences) and len(set(np.round(confidences, 3))) > 1
