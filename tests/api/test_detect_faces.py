"""DetectFaces through boto3 against the live server, on real photos."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from tests.support.expression_model import expression_model_dir, installed_models_dir
from tests.support.facedata import facedata_dir, facedata_files
from tests.support.hostile import assert_detect_faces_answers_or_refuses
from tests.support.human_models import iris_model_dir, iris_models_dir

FORMATS = "nonface_and_bad_inputs/faces_public_domain_and_formats"
SYNTHESIZED = "nonface_and_bad_inputs/synthesized"
DEFAULT_MEMBERS = {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}


def photo(relative: str) -> bytes:
    return (facedata_dir() / relative).read_bytes()


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def area(detail: dict[str, Any]) -> float:
    return float(detail["BoundingBox"]["Width"] * detail["BoundingBox"]["Height"])


def test_group_photo_gives_six_faces_largest_first_with_default_members(rekognition):
    response = rekognition.detect_faces(Image={"Bytes": photo(f"{FORMATS}/insightface_t1_friends_6faces.jpg")})
    faces = response["FaceDetails"]
    assert len(faces) == 6
    assert [area(f) for f in faces] == sorted((area(f) for f in faces), reverse=True)
    assert "OrientationCorrection" not in response
    for face in faces:
        assert set(face) == DEFAULT_MEMBERS
        assert [lm["Type"] for lm in face["Landmarks"]] == ["eyeLeft", "eyeRight", "mouthLeft", "mouthRight", "nose"]
        assert 0 < face["Confidence"] <= 100
        assert 0 <= face["Quality"]["Brightness"] <= 100 and 0 <= face["Quality"]["Sharpness"] <= 100


def test_landmarks_lie_inside_their_face_box(rekognition):
    faces = rekognition.detect_faces(
        Image={"Bytes": photo(f"{FORMATS}/insightface_t1_friends_6faces.jpg")}, Attributes=["ALL"]
    )["FaceDetails"]
    for face in faces:
        box = face["BoundingBox"]
        # The jawline points sit on the box's edge; allow 15 % of the box around it.
        margin_x, margin_y = 0.15 * box["Width"], 0.15 * box["Height"]
        for lm in face["Landmarks"]:
            assert box["Left"] - margin_x <= lm["X"] <= box["Left"] + box["Width"] + margin_x, lm
            assert box["Top"] - margin_y <= lm["Y"] <= box["Top"] + box["Height"] + margin_y, lm
        named = {lm["Type"]: lm for lm in face["Landmarks"]}
        assert named["eyeLeft"]["X"] < named["eyeRight"]["X"]
        assert named["eyeLeft"]["Y"] < named["mouthLeft"]["Y"]


def test_all_attributes_add_thirty_landmarks_and_computed_attributes_only(rekognition):
    faces = rekognition.detect_faces(
        Image={"Bytes": photo(f"{FORMATS}/skimage_astronaut.png")}, Attributes=["ALL"]
    )["FaceDetails"]
    face = faces[0]
    assert len(face["Landmarks"]) == 30
    assert len({lm["Type"] for lm in face["Landmarks"]}) == 30
    emotions = {"Emotions"} if installed_models_dir() is not None else set()  # only from a real model
    emotions |= {"EyeDirection"} if iris_models_dir() is not None else set()
    assert set(face) == DEFAULT_MEMBERS | {"AgeRange", "Gender", "EyesOpen", "MouthOpen", "Smile"} | emotions
    # An adult astronaut: the age model must say so; the range is ordered.
    assert 18 <= face["AgeRange"]["Low"] <= face["AgeRange"]["High"] <= 70
    assert face["Gender"]["Value"] in {"Male", "Female"}
    assert face["EyesOpen"]["Value"] is True  # her eyes are open in the photo


def test_named_attribute_adds_only_that_member(rekognition):
    face = rekognition.detect_faces(
        Image={"Bytes": photo(f"{FORMATS}/skimage_astronaut.png")}, Attributes=["SMILE"]
    )["FaceDetails"][0]
    assert set(face) == DEFAULT_MEMBERS | {"Smile"}
    assert len(face["Landmarks"]) == 5


@pytest.mark.parametrize(
    ("person", "smiling", "mouth_open"),
    [
        ("Pamela_Anderson/Pamela_Anderson_0004.jpg", True, True),  # a broad, open smile
        ("Vitali_Klitschko/Vitali_Klitschko_0003.jpg", False, False),  # serious, lips closed
        ("Romano_Prodi/Romano_Prodi_0004.jpg", False, True),  # speaking
    ],
)
def test_smile_and_open_mouth_follow_the_face(rekognition, person, smiling, mouth_open):
    face = rekognition.detect_faces(
        Image={"Bytes": photo(f"lfw_tiny/{person}")}, Attributes=["SMILE", "MOUTH_OPEN"]
    )["FaceDetails"][0]
    assert face["Smile"]["Value"] is smiling
    assert face["MouthOpen"]["Value"] is mouth_open
    assert 50 <= face["Smile"]["Confidence"] <= 100


@pytest.mark.parametrize(
    ("person", "top"),
    [
        ("Pamela_Anderson/Pamela_Anderson_0004.jpg", "HAPPY"),  # a broad, open smile
        ("Vitali_Klitschko/Vitali_Klitschko_0003.jpg", "CALM"),  # serious, lips closed
    ],
)
def test_emotions_are_rekognitions_eight_types_from_the_model_highest_first(rekognition, person, top):
    expression_model_dir()  # skips where the model is not installed
    face = rekognition.detect_faces(Image={"Bytes": photo(f"lfw_tiny/{person}")}, Attributes=["EMOTIONS"])[
        "FaceDetails"
    ][0]
    assert set(face) == DEFAULT_MEMBERS | {"Emotions"}
    emotions = face["Emotions"]
    assert sorted(e["Type"] for e in emotions) == sorted(
        ["HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR"]
    )
    confidences = [e["Confidence"] for e in emotions]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(100.0, abs=0.01)
    assert emotions[0]["Type"] == top and emotions[0]["Confidence"] > 90


def test_eye_direction_is_yaw_pitch_and_confidence_from_the_iris_model(rekognition):
    iris_model_dir()  # skips where the model is not installed
    if iris_models_dir() is None:
        pytest.skip("the test servers are given no models dir holding the iris model (face-api is not installed)")
    face = rekognition.detect_faces(
        Image={"Bytes": photo("lfw_tiny/Vitali_Klitschko/Vitali_Klitschko_0003.jpg")}, Attributes=["EYE_DIRECTION"]
    )["FaceDetails"][0]
    assert set(face) == DEFAULT_MEMBERS | {"EyeDirection"}
    eyes = face["EyeDirection"]
    assert set(eyes) == {"Yaw", "Pitch", "Confidence"}
    assert all(isinstance(v, float) for v in eyes.values())
    assert -180 <= eyes["Yaw"] <= 180 and -180 <= eyes["Pitch"] <= 180 and 0 <= eyes["Confidence"] <= 100
    assert abs(eyes["Yaw"]) < 20 and abs(eyes["Pitch"]) < 20  # a portrait looking into the camera


@pytest.mark.parametrize("relative", facedata_files("nonface_and_bad_inputs/nonface_real"))
def test_photos_without_a_face_give_no_face(rekognition, relative):
    assert rekognition.detect_faces(Image={"Bytes": photo(relative)})["FaceDetails"] == []


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_is_applied_before_detection(rekognition, orientation):
    upright = rekognition.detect_faces(Image={"Bytes": photo(f"{FORMATS}/skimage_astronaut.png")})
    rotated = rekognition.detect_faces(Image={"Bytes": photo(f"{SYNTHESIZED}/astronaut_exif_orientation{orientation}.jpg")})
    assert rotated["FaceDetails"], "the EXIF-rotated photo must be read upright"
    a, b = upright["FaceDetails"][0]["BoundingBox"], rotated["FaceDetails"][0]["BoundingBox"]
    assert all(abs(a[k] - b[k]) < 0.02 for k in a)


@pytest.mark.parametrize("relative", [f"{FORMATS}/pillow_hopper.webp", f"{FORMATS}/pillow_hopper.gif",
                                      f"{SYNTHESIZED}/text_file_named.jpg", f"{SYNTHESIZED}/empty_0_bytes.jpg"])
def test_other_formats_are_invalid_image_format(rekognition, relative):
    data = photo(relative)
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_faces(Image={"Bytes": data})
    expected = "ValidationException" if not data else "InvalidImageFormatException"  # empty Bytes: the model's min 1
    assert error_code(excinfo) == expected


def test_image_over_5_mb_is_too_large(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_faces(Image={"Bytes": b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024)})
    assert error_code(excinfo) == "ImageTooLargeException"
    assert excinfo.value.response["Error"]["Message"] == "Image size is too large."


def test_decompression_bomb_is_too_large(rekognition):
    with pytest.raises(ClientError) as excinfo:
        rekognition.detect_faces(Image={"Bytes": photo(f"{SYNTHESIZED}/huge_20000x20000_blank.png")})
    assert error_code(excinfo) == "ImageTooLargeException"


@pytest.mark.parametrize("relative", facedata_files("nonface_and_bad_inputs"))
def test_every_hostile_file_gets_an_answer_or_an_aws_error(rekognition, server, relative):
    assert_detect_faces_answers_or_refuses(rekognition, photo(relative))
    assert server.alive()


def test_s3_object_is_read_through_the_s3_api(s3_server, s3_rekognition, s3_client):
    data = photo(f"{FORMATS}/insightface_t1_friends_6faces.jpg")
    s3_client.create_bucket(Bucket="photos")
    s3_client.put_object(Bucket="photos", Key="group/friends.jpg", Body=data)
    by_s3 = s3_rekognition.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "group/friends.jpg"}})
    by_bytes = s3_rekognition.detect_faces(Image={"Bytes": data})
    assert by_s3["FaceDetails"] == by_bytes["FaceDetails"]
    assert len(by_s3["FaceDetails"]) == 6


@pytest.mark.parametrize("s3_object", [{"Bucket": "photos-missing", "Name": "x.jpg"},
                                       {"Bucket": "photos", "Name": "no/such/key.jpg"}])
def test_missing_s3_object_is_invalid_s3_object(s3_server, s3_rekognition, s3_client, s3_object):
    s3_client.create_bucket(Bucket="photos")
    with pytest.raises(ClientError) as excinfo:
        s3_rekognition.detect_faces(Image={"S3Object": s3_object})
    assert error_code(excinfo) == "InvalidS3ObjectException"


def test_png_and_jpeg_of_one_photo_give_the_same_faces(rekognition):
    png = photo(f"{FORMATS}/pillow_hopper.png")
    jpeg_buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(jpeg_buffer, "JPEG", quality=98)
    a = rekognition.detect_faces(Image={"Bytes": png})["FaceDetails"][0]["BoundingBox"]
    b = rekognition.detect_faces(Image={"Bytes": jpeg_buffer.getvalue()})["FaceDetails"][0]["BoundingBox"]
    assert all(abs(a[k] - b[k]) < 0.02 for k in a)
