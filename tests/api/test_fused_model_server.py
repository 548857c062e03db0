"""A server running the fused model (`--model Dlib+FaceRes`, engine/fusion.py), through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.human_models import human_models_dir
from tests.support.servers import served


@pytest.fixture(scope="module")
def fused_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models_dir = human_models_dir().parent  # skips where `rekog-compat models install human-models` has not run
    yield from served(tmp_path_factory.mktemp("fused"), "--model", "Dlib+FaceRes", "--models-dir", str(models_dir))


@pytest.fixture
def fused_client(fused_server: LiveServer, validated_operations: list[str]) -> Any:
    return make_client(fused_server.url, validated_operations)


def photo(name: str) -> bytes:
    person = name.rsplit("_", 1)[0]
    return (facedata_dir() / "lfw_tiny" / person / f"{name}.jpg").read_bytes()


def test_a_fused_collection_finds_the_same_person_and_says_which_model_built_it(fused_client):
    client = fused_client
    created = client.create_collection(CollectionId="fused")
    assert created["FaceModelVersion"] == "Dlib+FaceRes"
    client.index_faces(CollectionId="fused", Image={"Bytes": photo("Pamela_Anderson_0001")}, ExternalImageId="pamela",
                       MaxFaces=1)
    same = client.search_faces_by_image(CollectionId="fused", Image={"Bytes": photo("Pamela_Anderson_0004")})
    assert [m["Face"]["ExternalImageId"] for m in same["FaceMatches"]] == ["pamela"]
    assert same["FaceMatches"][0]["Similarity"] > 80
    assert same["FaceModelVersion"] == "Dlib+FaceRes"
    compared = client.compare_faces(SourceImage={"Bytes": photo("Pamela_Anderson_0001")},
                                    TargetImage={"Bytes": photo("Ahmad_Jbarah_0001")}, SimilarityThreshold=0)
    assert compared["FaceMatches"][0]["Similarity"] < 50
