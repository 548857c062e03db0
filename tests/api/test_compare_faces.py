"""CompareFaces through boto3 against the live server: real matches, calibrated Similarity."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError
from PIL import Image, ImageFilter

from benchmarks.lfw import read_pairs
from tests.support.facedata import facedata_dir

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"
NO_FACE = "nonface_and_bad_inputs/nonface_real/skimage_coffee.png"


def photo(relative: str) -> bytes:
    return (facedata_dir() / relative).read_bytes()


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def crop_of_group_face(rekognition, index: int) -> tuple[bytes, dict[str, float]]:
    """One face of the group photo, cut out with a margin and enlarged: a new photo of that person."""
    data = photo(GROUP)
    box = rekognition.detect_faces(Image={"Bytes": data})["FaceDetails"][index]["BoundingBox"]
    image = Image.open(io.BytesIO(data))
    w, h = image.size
    left, top = (box["Left"] - box["Width"]) * w, (box["Top"] - box["Height"]) * h
    right, bottom = (box["Left"] + 2 * box["Width"]) * w, (box["Top"] + 2 * box["Height"]) * h
    crop = image.crop((int(left), int(top), int(right), int(bottom)))
    return jpeg(crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.BICUBIC)), box


def test_a_face_matches_itself_in_a_group_and_no_one_else(rekognition):
    source, box = crop_of_group_face(rekognition, 2)
    response = rekognition.compare_faces(SourceImage={"Bytes": source}, TargetImage={"Bytes": photo(GROUP)})
    assert len(response["FaceMatches"]) == 1
    assert len(response["UnmatchedFaces"]) == 5
    match = response["FaceMatches"][0]
    assert match["Similarity"] >= 95
    assert all(abs(match["Face"]["BoundingBox"][k] - box[k]) < 0.01 for k in box)
    assert set(match["Face"]) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
    assert set(response["SourceImageFace"]) == {"BoundingBox", "Confidence"}


def test_threshold_zero_returns_every_target_face_as_a_match_sorted(rekognition):
    source, _ = crop_of_group_face(rekognition, 0)
    response = rekognition.compare_faces(
        SourceImage={"Bytes": source}, TargetImage={"Bytes": photo(GROUP)}, SimilarityThreshold=0
    )
    similarities = [m["Similarity"] for m in response["FaceMatches"]]
    assert len(similarities) == 6 and response["UnmatchedFaces"] == []
    assert similarities == sorted(similarities, reverse=True)
    assert similarities[0] >= 95 > similarities[1]


def test_lfw_tiny_pairs_are_told_apart_at_the_default_threshold(rekognition):
    """All 80 pairs of lfw_tiny: same person -> a match at Similarity >= 80, different -> none."""
    outcomes: dict[bool, list[bool]] = {True: [], False: []}
    no_face = []
    for first, second, same in read_pairs(facedata_dir() / "lfw_tiny" / "pairs_tiny.txt"):
        try:
            response = rekognition.compare_faces(
                SourceImage={"Bytes": first.read_bytes()}, TargetImage={"Bytes": second.read_bytes()}
            )
        except ClientError as error:  # a face HOG cannot find counts as a failed match, never as dropped
            assert error.response["Error"]["Code"] == "InvalidParameterException"
            no_face.append((first.name, second.name))
            response = {"FaceMatches": []}
        outcomes[same].append(bool(response["FaceMatches"]))
    assert len(outcomes[True]) == 40 and len(outcomes[False]) == 40
    assert len(no_face) <= 2, no_face
    # Calibrated for a false-match rate of 1e-3 per pair at 80: none of 40 impostor pairs may match.
    assert sum(outcomes[False]) == 0
    # dlib's ResNet verifies ~95 % of LFW genuine pairs at that rate (docs/accuracy.md).
    assert sum(outcomes[True]) >= 36


@pytest.mark.parametrize("side", ["SourceImage", "TargetImage"])
def test_no_face_in_either_image_is_invalid_parameter(rekognition, side):
    images = {"SourceImage": {"Bytes": photo(GROUP)}, "TargetImage": {"Bytes": photo(GROUP)}}
    images[side] = {"Bytes": photo(NO_FACE)}
    with pytest.raises(ClientError) as excinfo:
        rekognition.compare_faces(**images)
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    assert excinfo.value.response["Error"]["Message"] == "Request has invalid parameters."


def test_quality_filter_drops_a_blurred_source_face(rekognition):
    sharp = Image.open(io.BytesIO(photo("lfw_tiny/Pamela_Anderson/Pamela_Anderson_0004.jpg")))
    blurred = jpeg(sharp.filter(ImageFilter.GaussianBlur(3)))
    target = {"Bytes": photo("lfw_tiny/Pamela_Anderson/Pamela_Anderson_0001.jpg")}
    # Without a filter the blurred face is still compared ...
    rekognition.compare_faces(SourceImage={"Bytes": blurred}, TargetImage=target, QualityFilter="NONE")
    # ... with HIGH it is filtered out, leaving no face to compare.
    with pytest.raises(ClientError) as excinfo:
        rekognition.compare_faces(SourceImage={"Bytes": blurred}, TargetImage=target, QualityFilter="HIGH")
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"


def test_bad_target_image_gets_the_image_error(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.compare_faces(
            SourceImage={"Bytes": photo(GROUP)},
            TargetImage={"Bytes": photo("nonface_and_bad_inputs/synthesized/astronaut_truncated_60pct.jpg")},
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidImageFormatException"


def test_similarity_threshold_out_of_range_is_a_validation_error(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.compare_faces(
            SourceImage={"Bytes": photo(GROUP)}, TargetImage={"Bytes": photo(GROUP)}, SimilarityThreshold=101
        )
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "similarityThreshold" in excinfo.value.response["Error"]["Message"]


def test_two_5_mb_images_fit_in_one_request(rekognition):
    """CompareFaces carries two images of up to 5 MB each: the body limit must allow both."""
    image = Image.open(io.BytesIO(photo(GROUP))).convert("RGB")
    big = image.resize((image.width * 3, image.height * 3))
    buffer = io.BytesIO()
    big.save(buffer, "PNG", compress_level=0)
    data = buffer.getvalue()[: 5 * 1024 * 1024]
    assert len(data) == 5 * 1024 * 1024
    with pytest.raises(ClientError) as excinfo:  # a cut PNG: the image error, not a body-size error
        rekognition.compare_faces(SourceImage={"Bytes": data}, TargetImage={"Bytes": data})
    assert excinfo.value.response["Error"]["Code"] == "InvalidImageFormatException"
