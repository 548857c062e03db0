"""rekog_sdk's helpers and bulk indexing against the live local server, on real photos."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
import rekog_sdk
from botocore.exceptions import ClientError
from PIL import Image
from rekog_sdk.reencode import MAX_IMAGE_BYTES, ReencodeError, shrink_to_limit

from tests.support.facedata import facedata_dir


def lfw_tiny() -> Path:
    return facedata_dir() / "lfw_tiny"


def people_with(photos: int) -> dict[str, list[Path]]:
    """lfw_tiny's people with exactly `photos` photos, each with their photos in sorted order."""
    folders = sorted(d for d in lfw_tiny().iterdir() if d.is_dir())
    found = {d.name: sorted(d.glob("*.jpg")) for d in folders}
    return {name: paths for name, paths in found.items() if len(paths) == photos}


def face_count(client: Any, collection: str) -> int:
    return int(client.describe_collection(CollectionId=collection)["FaceCount"])


def collection_state(client: Any, collection: str) -> set[tuple[str, str]]:
    """(ExternalImageId, ImageId) of every face: what a resumed run must leave exactly as a full run does."""
    return {(f["ExternalImageId"], f["ImageId"]) for f in rekog_sdk.iter_faces(client, collection)}


def assert_adds_up(summary: rekog_sdk.IndexSummary) -> None:
    assert summary.indexed + summary.unindexed + summary.failed + summary.skipped == summary.total
    assert len(summary.unindexed_files) == summary.unindexed
    assert len(summary.failed_files) == summary.failed
    assert len(summary.skipped_files) == summary.skipped


def big_png(source: Path, side: int = 1500) -> bytes:
    """A real face photo upscaled and stored as uncompressed PNG: over Rekognition's 5 MB limit."""
    with Image.open(source) as im:
        out = io.BytesIO()
        im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(out, format="PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) > MAX_IMAGE_BYTES
    return data


# ---- bulk indexing ---------------------------------------------------------------------------------


def test_index_folder_in_folder_mode_counts_every_image_and_a_second_run_skips_them(rekognition):
    rekog_sdk.ensure_collection(rekognition, "c1")
    first = rekog_sdk.index_folder(rekognition, "c1", lfw_tiny(), external_id="folder", progress=False)

    assert first.total == 100  # pairs_tiny.txt is not an image
    assert_adds_up(first)
    assert first.failed == 0 and first.skipped == 0
    assert first.indexed >= 95, first.unindexed_files
    assert all(reasons for reasons in first.unindexed_files.values())
    assert face_count(rekognition, "c1") == first.faces >= first.indexed
    faces = list(rekog_sdk.iter_faces(rekognition, "c1"))
    people = {d.name for d in lfw_tiny().iterdir() if d.is_dir()}
    assert {f["ExternalImageId"] for f in faces} <= people
    assert len({f["ExternalImageId"] for f in faces}) >= 38

    second = rekog_sdk.index_folder(rekognition, "c1", lfw_tiny(), external_id="folder", progress=False)
    assert_adds_up(second)
    # Per folder, the first k images (k = that folder's images in the collection) are skipped; only
    # images without a face (and those after them in their folder) are sent again, storing nothing new.
    assert second.skipped == first.indexed
    assert second.indexed + second.unindexed == first.unindexed and second.failed == 0
    assert face_count(rekognition, "c1") == first.faces


def test_index_folder_in_filename_mode_uses_stems_and_resumes_exactly(rekognition):
    rekog_sdk.ensure_collection(rekognition, "c1")
    first = rekog_sdk.index_folder(rekognition, "c1", lfw_tiny(), external_id="filename", workers=6, progress=False)

    assert first.total == 100 and first.failed == 0
    assert_adds_up(first)
    all_stems = {p.stem for p in lfw_tiny().rglob("*.jpg")}
    not_indexed = {Path(name).stem for name in first.unindexed_files}
    assert {f["ExternalImageId"] for f in rekog_sdk.iter_faces(rekognition, "c1")} == all_stems - not_indexed
    assert face_count(rekognition, "c1") == first.faces

    second = rekog_sdk.index_folder(rekognition, "c1", lfw_tiny(), external_id="filename", progress=False)
    assert second.skipped == first.indexed and second.indexed == 0
    assert second.unindexed_files == first.unindexed_files  # no face stored, so nothing to skip them by
    assert face_count(rekognition, "c1") == first.faces


class CrashingClient:
    """The real client, which dies (as a killed process would) after `calls` IndexFaces requests."""

    class Crash(Exception):
        pass

    def __init__(self, client: Any, calls: int) -> None:
        self._client = client
        self._left = calls

    def index_faces(self, **kwargs: Any) -> Any:
        self._left -= 1
        if self._left < 0:
            raise self.Crash()
        return self._client.index_faces(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("mode", ["folder", "filename"])
def test_an_interrupted_run_resumed_ends_exactly_like_one_full_run(rekognition, tmp_path, mode):
    gallery = tmp_path / "gallery"
    for name, photos in list(people_with(4).items())[:6]:
        (gallery / name).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, gallery / name / photo.name)
    for collection in ("full", "resumed"):
        rekog_sdk.ensure_collection(rekognition, collection)
    full = rekog_sdk.index_folder(rekognition, "full", gallery, external_id=mode, progress=False)
    assert full.total == 24 and full.failed == 0

    crashing = CrashingClient(rekognition, calls=9)
    with pytest.raises(CrashingClient.Crash):
        rekog_sdk.index_folder(crashing, "resumed", gallery, external_id=mode, workers=3, progress=False)
    partial = face_count(rekognition, "resumed")
    assert 0 < partial < full.faces

    resumed = rekog_sdk.index_folder(rekognition, "resumed", gallery, external_id=mode, workers=3, progress=False)
    assert_adds_up(resumed)
    assert 0 < resumed.skipped < 24 and resumed.failed == 0
    assert collection_state(rekognition, "resumed") == collection_state(rekognition, "full")
    assert face_count(rekognition, "resumed") == full.faces


def test_external_ids_are_sanitized_to_the_api_pattern(rekognition, tmp_path):
    source = people_with(4)
    name, photos = next(iter(source.items()))
    folder = tmp_path / "José O'Neil (2004)"
    folder.mkdir()
    shutil.copy(photos[0], folder / "photo #1.jpg")
    rekog_sdk.ensure_collection(rekognition, "names")

    summary = rekog_sdk.index_folder(rekognition, "names", tmp_path, external_id="folder", progress=False)
    assert summary.indexed == 1, summary
    assert {f["ExternalImageId"] for f in rekog_sdk.iter_faces(rekognition, "names")} == {"Jos__O_Neil__2004_"}
    summary = rekog_sdk.index_folder(rekognition, "names", tmp_path, external_id="filename", progress=False)
    assert summary.indexed == 1
    assert {f["ExternalImageId"] for f in rekog_sdk.iter_faces(rekognition, "names")} == {
        "Jos__O_Neil__2004_", "photo__1"
    }


def test_an_image_over_5_mb_is_reencoded_and_a_broken_file_fails(rekognition, tmp_path):
    name, photos = next(iter(people_with(4).items()))
    (tmp_path / "big_face.png").write_bytes(big_png(photos[0]))
    (tmp_path / "broken.jpg").write_bytes(photos[1].read_bytes()[:300])  # a truncated JPEG
    (tmp_path / "notes.txt").write_text("not an image: never sent")
    rekog_sdk.ensure_collection(rekognition, "big")

    summary = rekog_sdk.index_folder(rekognition, "big", tmp_path, progress=False)
    assert summary.total == 2
    assert summary.indexed == 1 and summary.reencoded_files == ["big_face.png"] and summary.reencoded == 1
    assert summary.failed == 1 and summary.failed_files["broken.jpg"].startswith("InvalidImageFormatException")
    assert not summary.ok

    # The re-encoded face is the person's: another photo of them finds it.
    matches = rekog_sdk.search_image(rekognition, "big", photos[2])
    assert matches and matches[0]["Face"]["ExternalImageId"] == "big_face"


def test_without_reencoding_an_image_over_5_mb_fails_with_the_reason(rekognition, tmp_path):
    _, photos = next(iter(people_with(4).items()))
    (tmp_path / "big_face.png").write_bytes(big_png(photos[0]))
    rekog_sdk.ensure_collection(rekognition, "big")
    summary = rekog_sdk.index_folder(rekognition, "big", tmp_path, progress=False, reencode_over_5mb=False)
    assert summary.failed == 1 and summary.indexed == 0
    assert "ImageTooLargeException" in summary.failed_files["big_face.png"]
    assert face_count(rekognition, "big") == 0


def test_index_folder_into_a_missing_collection_raises_before_sending_anything(rekognition, tmp_path):
    with pytest.raises(ClientError) as excinfo:
        rekog_sdk.index_folder(rekognition, "nowhere", lfw_tiny(), progress=False)
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError):
        rekog_sdk.index_folder(rekognition, "nowhere", lfw_tiny(), progress=False, resume=False)


def test_index_folder_shows_a_progress_bar_on_stderr(rekognition, tmp_path, capsys):
    _, photos = next(iter(people_with(4).items()))
    shutil.copy(photos[0], tmp_path / photos[0].name)
    rekog_sdk.ensure_collection(rekognition, "bar")
    rekog_sdk.index_folder(rekognition, "bar", tmp_path, progress=True)
    captured = capsys.readouterr()
    assert "indexing into bar" in captured.err and "1/1" in captured.err and captured.out == ""


# ---- images, search, compare -----------------------------------------------------------------------


def test_shrink_to_limit_fits_by_quality_then_by_size(tmp_path):
    _, photos = next(iter(people_with(4).items()))
    data = big_png(photos[0])
    fitted = shrink_to_limit(data)
    assert fitted[:2] == b"\xff\xd8" and len(fitted) <= MAX_IMAGE_BYTES
    with Image.open(io.BytesIO(fitted)) as im:
        assert im.size == (1500, 1500)  # quality alone was enough
    small = shrink_to_limit(data, limit=30_000)
    assert len(small) <= 30_000
    with Image.open(io.BytesIO(small)) as im:
        assert 80 <= im.width < 1500
    assert shrink_to_limit(b"tiny") == b"tiny"  # within the limit: untouched
    with pytest.raises(ReencodeError):
        shrink_to_limit(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, limit=10)


def test_search_image_finds_the_right_person(rekognition, tmp_path):
    people = dict(list(people_with(4).items())[:10])
    gallery = tmp_path / "gallery"
    for name, photos in people.items():
        (gallery / name).mkdir(parents=True)
        for photo in photos[:3]:
            shutil.copy(photo, gallery / name / photo.name)
    rekog_sdk.ensure_collection(rekognition, "gallery")
    summary = rekog_sdk.index_folder(rekognition, "gallery", gallery, external_id="folder", max_faces=1,
                                     progress=False)
    assert summary.failed == 0

    right = 0
    for name, photos in people.items():
        try:
            matches = rekog_sdk.search_image(rekognition, "gallery", photos[3], threshold=70, max_faces=3)
        except ClientError as error:  # no face found in the probe: counted as a miss
            assert error.response["Error"]["Code"] == "InvalidParameterException"
            continue
        assert len(matches) <= 3
        assert all(m["Similarity"] >= 70 for m in matches)
        assert [m["Similarity"] for m in matches] == sorted((m["Similarity"] for m in matches), reverse=True)
        right += bool(matches) and matches[0]["Face"]["ExternalImageId"] == name
    assert right >= 9, right
    # bytes work as well as paths
    name, photos = next(iter(people.items()))
    matches = rekog_sdk.search_image(rekognition, "gallery", photos[3].read_bytes())
    assert matches[0]["Face"]["ExternalImageId"] == name


def test_compare_images_same_and_different_people(rekognition):
    (alice, alice_photos), (bob, bob_photos) = list(people_with(4).items())[:2]
    same = rekog_sdk.compare_images(rekognition, alice_photos[0], alice_photos[1].read_bytes())
    assert "ResponseMetadata" not in same
    assert same["FaceMatches"] and same["FaceMatches"][0]["Similarity"] >= 80
    assert "SourceImageFace" in same
    different = rekog_sdk.compare_images(rekognition, alice_photos[0], bob_photos[0], threshold=90)
    assert different["FaceMatches"] == [] and different["UnmatchedFaces"]
    loose = rekog_sdk.compare_images(rekognition, alice_photos[0], bob_photos[0], threshold=0)
    assert loose["FaceMatches"]  # threshold 0 keeps every face


# ---- collections, paginators -----------------------------------------------------------------------


def test_ensure_collection_creates_once_and_returns_the_arn(rekognition):
    arn = rekog_sdk.ensure_collection(rekognition, "staff")
    assert arn.startswith("arn:aws:rekognition:us-east-1:") and arn.endswith(":collection/staff")
    assert rekog_sdk.ensure_collection(rekognition, "staff") == arn
    assert list(rekog_sdk.iter_collections(rekognition)) == ["staff"]


def test_iter_faces_and_iter_collections_follow_every_page(rekognition):
    ids = [f"coll-{n}" for n in range(5)]
    for collection in ids:
        rekog_sdk.ensure_collection(rekognition, collection)
    assert list(rekog_sdk.iter_collections(rekognition, page_size=2)) == ids

    name, photos = next(iter(people_with(4).items()))
    for photo in photos:
        rekognition.index_faces(CollectionId="coll-0", Image={"Bytes": photo.read_bytes()}, ExternalImageId=name)
    everything = rekognition.list_faces(CollectionId="coll-0")["Faces"]
    assert len(everything) >= 4
    paged = list(rekog_sdk.iter_faces(rekognition, "coll-0", page_size=1))
    assert [f["FaceId"] for f in paged] == [f["FaceId"] for f in everything]
    assert list(rekog_sdk.iter_faces(rekognition, "coll-1")) == []


def test_discover_images_is_recursive_sorted_by_extension_and_skips_hidden(tmp_path):
    for relative in ["b/2.JPG", "b/1.jpeg", "a.png", "c/d/e.jpg", "c/readme.txt", ".hidden/x.jpg", "b/.x.jpg",
                     "z.gif", "a/z.jpg"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in rekog_sdk.discover_images(tmp_path)]
    assert found == ["a.png", "a/z.jpg", "b/1.jpeg", "b/2.JPG", "c/d/e.jpg"]


def test_image_param_accepts_paths_bytes_s3_urls_and_image_dicts(tmp_path):
    (tmp_path / "f.jpg").write_bytes(b"jpeg")
    assert rekog_sdk.image_param(tmp_path / "f.jpg") == {"Bytes": b"jpeg"}
    assert rekog_sdk.image_param(str(tmp_path / "f.jpg")) == {"Bytes": b"jpeg"}
    assert rekog_sdk.image_param(bytearray(b"raw")) == {"Bytes": b"raw"}
    assert rekog_sdk.image_param("s3://bucket/people/a b.jpg") == {
        "S3Object": {"Bucket": "bucket", "Name": "people/a b.jpg"}
    }
    versioned = {"S3Object": {"Bucket": "b", "Name": "k", "Version": "3"}}
    assert rekog_sdk.image_param(versioned) == versioned
    for bad in ("s3://bucket", "s3:///key"):
        with pytest.raises(ValueError):
            rekog_sdk.image_param(bad)
    with pytest.raises(TypeError):
        rekog_sdk.image_param(42)  # type: ignore[arg-type]


def test_sanitize_external_id():
    assert rekog_sdk.sanitize_external_id("George_W_Bush") == "George_W_Bush"
    assert rekog_sdk.sanitize_external_id("a.b-c:d") == "a.b-c:d"
    assert rekog_sdk.sanitize_external_id("José María") == "Jos__Mar_a"
    assert rekog_sdk.sanitize_external_id("") == "_"
    assert len(rekog_sdk.sanitize_external_id("x" * 300)) == 255
    assert rekog_sdk.external_id_for(Path("/data/Anne Smith/img 1.jpg"), "folder") == "Anne_Smith"
    assert rekog_sdk.external_id_for(Path("/data/Anne Smith/img 1.jpg"), "filename") == "img_1"
    with pytest.raises(ValueError):
        rekog_sdk.external_id_for(Path("x.jpg"), "person")  # type: ignore[arg-type]
