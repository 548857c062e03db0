"""`rekog-compat seed`: a collection of real and synthetic faces that the server then searches as
if every face had been indexed through the API; the search part of a call is reported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir

ACCOUNT = "210987654321"
FACES = 2500


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = facedata_dir() / "lfw_tiny"
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, people: dict[str, list[Path]]) -> tuple[Path, dict]:
    """A data dir seeded with each lfw_tiny person's first photo (one of those with several, the first
    two: the fit needs a repeated person) plus synthetic faces, and the seed command's report."""
    links = tmp_path_factory.mktemp("gallery")
    for person, photos in people.items():
        (links / person).mkdir()
        for photo in photos[:2] if person == "Vitali_Klitschko" else photos[:1]:
            (links / person / photo.name).symlink_to(photo)
    data_dir = tmp_path_factory.mktemp("seeded")
    result = subprocess.run(
        [sys.executable, "-m", "rekog_compat", "seed", "--collection-id", "crowd", "--faces", str(FACES),
         "--photos", str(links), "--data-dir", str(data_dir), "--account", ACCOUNT, "--ann-min-faces", "2000"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return data_dir, json.loads(result.stdout)


@pytest.fixture(scope="module")
def crowd(seeded: tuple[Path, dict], validated_operations: list[str]):
    server = LiveServer(seeded[0], "--ann-min-faces", "2000").start(120)
    yield make_client(server.url, validated_operations, access_key=ACCOUNT)
    server.stop()


def test_the_seed_command_stores_real_and_synthetic_faces(seeded, people, crowd):
    data_dir, report = seeded
    assert report["real"] + report["synthetic"] == FACES
    assert report["real"] >= len(people) - 2  # a photo without a face IndexFaces would take is skipped
    assert crowd.describe_collection(CollectionId="crowd")["FaceCount"] == FACES
    assert (data_dir / "ann" / "faces-1.faiss").exists()  # past --ann-min-faces: built by the seeding
    faces = crowd.list_faces(CollectionId="crowd", MaxResults=4096)["Faces"]
    synthetic = [f for f in faces if f["ExternalImageId"].startswith("synthetic-")]
    assert len(synthetic) == report["synthetic"]


def test_a_seeded_photo_has_the_face_id_index_faces_gives_it(people, crowd):
    photo = people["Vitali_Klitschko"][0]
    record = crowd.index_faces(CollectionId="crowd", Image={"Bytes": photo.read_bytes()}, MaxFaces=1,
                               ExternalImageId=photo.stem)["FaceRecords"][0]
    assert crowd.describe_collection(CollectionId="crowd")["FaceCount"] == FACES  # already there
    listed = crowd.list_faces(CollectionId="crowd", FaceIds=[record["Face"]["FaceId"]])["Faces"]
    assert [f["ExternalImageId"] for f in listed] == [photo.stem]


def test_other_photos_of_seeded_people_find_them_among_the_synthetic_crowd(people, crowd):
    probes = [(person, photos[-1]) for person, photos in people.items() if len(photos) > 2]
    found = 0
    for person, photo in probes:
        try:
            response = crowd.search_faces_by_image(CollectionId="crowd", Image={"Bytes": photo.read_bytes()},
                                                   MaxFaces=1)
        except crowd.exceptions.InvalidParameterException:  # no face found in the probe: a miss
            continue
        matches = response["FaceMatches"]
        found += bool(matches) and matches[0]["Face"]["ExternalImageId"].rsplit("_", 1)[0] == person
    assert len(probes) >= 10 and found >= 0.8 * len(probes)


def test_the_answer_says_how_long_the_engine_and_the_search_took(people, crowd):
    photo = people["Romano_Prodi"][-1]
    response = crowd.search_faces_by_image(CollectionId="crowd", Image={"Bytes": photo.read_bytes()})
    header = response["ResponseMetadata"]["HTTPHeaders"]["server-timing"]
    parts = dict(re.findall(r"(\w+);dur=([\d.]+)", header))
    assert set(parts) == {"engine", "search"}
    assert float(parts["engine"]) > float(parts["search"]) > 0
