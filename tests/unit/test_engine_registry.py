"""The engine's detectors and embedders by name (rekog_compat/engine/registry.py)."""

from __future__ import annotations

import pytest
from deepface.modules.modeling import AVAILABLE_MODELS

from rekog_compat.cli import main
from rekog_compat.engine import (
    DEFAULT_DETECTOR,
    DEFAULT_MODEL,
    EngineConfig,
    EngineUnavailable,
    FaceEngine,
    mtcnn,
    registry,
)
from rekog_compat.engine.model_packages import MODEL_PACKAGES
from rekog_compat.engine.weights import PACKAGED_WEIGHTS

ALL = [*registry.DETECTORS, *registry.EMBEDDERS]


@pytest.mark.parametrize("entry", ALL, ids=lambda e: f"{e.kind}:{e.name}")
def test_every_entry_names_what_it_is_its_package_and_licence(entry):
    assert entry.name and entry.what and entry.package and entry.licence
    assert entry.kind in registry.FLAGS and callable(entry.factory)
    if entry.name == "mtcnn":  # the mtcnn package's own files, read (and checked) where pip put them
        assert all((mtcnn.weights_dir() / name).is_file() for name in entry.weights), entry.weights
    elif entry.packaged:  # its package ships the weights: they are among the files linked at start-up
        assert set(entry.weights) <= set(PACKAGED_WEIGHTS), entry.weights


def test_names_are_unique_per_kind_and_the_defaults_are_registered():
    for kind in registry.FLAGS:
        names = registry.names(kind)
        assert len(names) == len(set(names))
        assert all(entry.kind == kind for entry in registry.ENTRIES[kind])
    assert registry.detector(DEFAULT_DETECTOR).name == DEFAULT_DETECTOR
    assert registry.embedder(DEFAULT_MODEL).name == DEFAULT_MODEL


def test_the_defaults_run_natively_without_deepface():
    assert not registry.detector(DEFAULT_DETECTOR).deepface and not registry.embedder(DEFAULT_MODEL).deepface
    assert registry.detector("dlib-cnn").packaged and not registry.detector("dlib-cnn").deepface


def test_every_deepface_model_and_detector_is_registered():
    """Nothing DeepFace could run before the registry is refused now (its dlib and mtcnn detectors: our native
    ones)."""
    ours = {e.name for e in registry.EMBEDDERS if not e.deepface} - set(AVAILABLE_MODELS["facial_recognition"])
    assert ours == {"Dlib+FaceRes"}  # the engine's own models, beside DeepFace's
    assert set(registry.names("embedder")) - ours == set(AVAILABLE_MODELS["facial_recognition"])
    deepface_detectors = {e.name for e in registry.DETECTORS if e.deepface}
    assert deepface_detectors == set(AVAILABLE_MODELS["face_detector"]) - {"dlib", "mtcnn"}


@pytest.mark.parametrize(("lookup", "kind", "flag"), [
    (registry.embedder, "embedder", "--model"), (registry.detector, "detector", "--detector"),
])
def test_an_unknown_name_is_a_clear_error_listing_the_known_ones(lookup, kind, flag):
    with pytest.raises(EngineUnavailable) as error:
        lookup("NoSuchNet")
    message = str(error.value)
    assert "NoSuchNet" in message and flag in message
    assert all(name in message for name in registry.names(kind))


def test_an_unknown_configured_model_fails_before_anything_loads():
    engine = FaceEngine(EngineConfig(model="NoSuchNet"))
    with pytest.raises(EngineUnavailable, match="unknown recognition model 'NoSuchNet' \\(--model\\); known: Dlib, "):
        engine.check_ready()
    assert engine._detector is None


def test_the_native_entries_build_their_models():
    assert registry.embedder("Dlib").build().model == "Dlib"
    assert registry.detector("dlib").build().name == "dlib"


def test_the_models_command_lists_every_entry_with_package_and_licence(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(ALL) + len(MODEL_PACKAGES)
    for entry, line in zip(ALL, lines[1 : 1 + len(ALL)], strict=True):
        assert line.split()[:2] == [registry.FLAGS[entry.kind], entry.name]
        assert entry.package in line and entry.licence in line
    for model, line in zip(MODEL_PACKAGES.values(), lines[1 + len(ALL):], strict=True):  # fetched by `models install`
        assert line.split()[:2] == ["install", model.name]
        assert model.spec in line and model.licence in line


def test_a_bare_models_install_fetches_only_the_models_the_server_uses(monkeypatch, tmp_path):
    fetched = []
    for model in MODEL_PACKAGES.values():
        monkeypatch.setattr(type(model), "install", lambda self, models_dir, npm="npm": fetched.append(self.name))
    assert main(["models", "install", "--models-dir", str(tmp_path)]) == 0
    assert fetched == ["scrfd", "face-api"]  # not human-models: benchmark candidates only (docs/engine.md)
    assert main(["models", "install", "human-models", "--models-dir", str(tmp_path)]) == 0
    assert fetched == ["scrfd", "face-api", "human-models"]


def test_models_install_refuses_an_unknown_name_listing_the_known_ones(capsys, tmp_path):
    assert main(["models", "install", "no-such-model", "--models-dir", str(tmp_path)]) == 2
    assert "unknown model no-such-model; known: scrfd, face-api, human-models" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing fetched, nothing written
