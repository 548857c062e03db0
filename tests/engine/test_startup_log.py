"""The engine says at start-up which detector and model it runs, whose licence the default detector's weights are
under and, on the default model, how to get the better one."""

from __future__ import annotations

import logging

import pytest

from rekog_compat.engine import EngineConfig, FaceEngine
from tests.support.human_models import human_models_dir, scrfd_model_dir


def started_log(caplog: pytest.LogCaptureFixture, config: EngineConfig) -> str:
    with caplog.at_level(logging.INFO, logger="rekog_compat.engine"):
        FaceEngine(config).check_ready()
    return "\n".join(record.getMessage() for record in caplog.records)


def test_the_defaults_name_themselves_the_detectors_licence_and_the_better_model_with_its_command(caplog):
    text = started_log(caplog, EngineConfig(models_dir=str(scrfd_model_dir().parent)))
    assert "face detector: scrfd (InsightFace's SCRFD-2.5G" in text
    assert "recognition model: Dlib (dlib's ResNet" in text
    assert "scrfd's weights: Apache-2.0 (the package); the weights are InsightFace's, for non-commercial research" in text
    assert "--detector mtcnn runs MIT-licensed weights" in text
    assert "--model Dlib+FaceRes, after rekog-compat models install human-models" in text


def test_another_detector_is_named_without_the_defaults_licence_note(caplog):
    text = started_log(caplog, EngineConfig(detector="mtcnn", models_dir=""))
    assert "face detector: mtcnn (MTCNN's three-network cascade" in text
    assert "non-commercial" not in text


def test_the_better_model_in_use_is_named_and_not_offered_again(caplog):
    models_dir = human_models_dir().parent
    text = started_log(caplog, EngineConfig(model="Dlib+FaceRes", models_dir=str(models_dir)))
    assert "recognition model: Dlib+FaceRes" in text
    assert "--model Dlib+FaceRes, after" not in text
