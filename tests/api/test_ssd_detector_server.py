"""A server running face-api's SSD MobileNet detector (`--detector ssd-mobilenet`), through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.expression_model import expression_model_dir
from tests.support.facedata import facedata_dir, facedata_files
from tests.support.hostile import assert_detect_faces_answers_or_refuses
from tests.support.servers import served

FORMATS = "nonface_and_bad_inputs/faces_public_domain_and_formats"


@pytest.fixture(scope="module")
def ssd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    models_dir = expression_model_dir().parent  # skips where `rekog-compat models install` has not run
    yield from served(tmp_path_factory.mktemp("ssd"), "--detector", "ssd-mobilenet", "--models-dir", str(models_dir))


@pytest.fixture
def ssd(ssd_server: LiveServer, validated_operations: list[str]) -> Any:
    return make_client(ssd_server.url, validated_operations)


def photo(relative: str) -> bytes:
    return (facedata_dir() / relative).read_bytes()


def test_the_group_photos_six_faces_are_found_largest_first(ssd):
    faces = ssd.detect_faces(Image={"Bytes": photo(f"{FORMATS}/insightface_t1_friends_6faces.jpg")})["FaceDetails"]
    assert len(faces) == 6
    areas = [f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"] for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert all(50 < f["Confidence"] <= 100 for f in faces)


def test_a_face_indexed_by_one_photo_is_found_by_another_of_the_same_person(ssd):
    ssd.create_collection(CollectionId="ssd")
    ssd.index_faces(CollectionId="ssd", Image={"Bytes": photo("lfw_tiny/Pamela_Anderson/Pamela_Anderson_0001.jpg")},
                    ExternalImageId="pamela", MaxFaces=1)
    matches = ssd.search_faces_by_image(
        CollectionId="ssd", Image={"Bytes": photo("lfw_tiny/Pamela_Anderson/Pamela_Anderson_0004.jpg")}
    )["FaceMatches"]
    assert [m["Face"]["ExternalImageId"] for m in matches] == ["pamela"]


@pytest.mark.parametrize("relative", facedata_files("nonface_and_bad_inputs"))
def test_every_hostile_file_gets_an_answer_or_an_aws_error(ssd, ssd_server, relative):
    assert_detect_faces_answers_or_refuses(ssd, photo(relative), Attributes=["ALL"])
    assert ssd_server.alive()
