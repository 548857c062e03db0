"""What the engine measures on one face: landmarks, pose, quality, embeddings, demographics."""

from __future__ import annotations

import cv2
import numpy as np

from rekog_compat.engine.embedding import DeepFaceEmbedder
from rekog_compat.engine.similarity import cosine_distances
from tests.engine.conftest import rgb
from tests.support.facedata import facedata_dir

FORMATS = "nonface_and_bad_inputs/faces_public_domain_and_formats"


def test_six_face_photo_gives_six_faces_largest_first(engine):
    faces = engine.detect(rgb(facedata_dir() / FORMATS / "insightface_t1_friends_6faces.jpg"))
    assert len(faces) == 6
    areas = [f.width_px * f.height_px for f in faces]
    assert areas == sorted(areas, reverse=True)


def test_max_faces_keeps_the_largest(engine):
    image = rgb(facedata_dir() / FORMATS / "insightface_t1_friends_6faces.jpg")
    everything, two = engine.detect(image), engine.detect(image, max_faces=2)
    assert [f.detection for f in two] == [f.detection for f in everything[:2]]


def test_roll_follows_an_in_plane_rotation(engine):
    image = rgb(facedata_dir() / "lfw_tiny/Vitali_Klitschko/Vitali_Klitschko_0003.jpg")
    upright = engine.detect(image)[0].pose["Roll"]
    center = (image.shape[1] / 2, image.shape[0] / 2)
    tilted_image = cv2.warpAffine(image, cv2.getRotationMatrix2D(center, -20, 1.0), image.shape[1::-1])
    tilted = engine.detect(tilted_image)[0].pose["Roll"]
    assert abs((tilted - upright) - 20) < 6


def test_yaw_sign_follows_a_mirrored_face(engine):
    """A face turned one way, mirrored, is turned the other way by about as much."""
    image = rgb(facedata_dir() / FORMATS / "insightface_t1_friends_6faces.jpg")
    turned = max(engine.detect(image), key=lambda f: abs(f.pose["Yaw"]))
    mirrored = engine.detect(np.ascontiguousarray(image[:, ::-1]))
    twin = min(mirrored, key=lambda f: abs(f.box[1] - turned.box[1]) + abs(f.box[0] + f.box[2] - 1 + turned.box[0]))
    assert abs(turned.pose["Yaw"]) > 20
    assert np.sign(twin.pose["Yaw"]) == -np.sign(turned.pose["Yaw"])


def test_sharpness_drops_on_blur_and_brightness_on_darkening(engine):
    image = rgb(facedata_dir() / "lfw_tiny/Vitali_Klitschko/Vitali_Klitschko_0003.jpg")
    face = engine.detect(image)[0]
    blurred = engine.detect(cv2.GaussianBlur(image, (0, 0), 2.5))[0]
    darker = engine.detect((image * 0.5).astype(np.uint8))[0]
    assert blurred.quality["Sharpness"] < face.quality["Sharpness"] / 2
    assert abs(darker.quality["Brightness"] - face.quality["Brightness"] / 2) < 5


def test_embeddings_are_unit_vectors_and_separate_people(engine):
    root = facedata_dir() / "lfw_tiny"
    same_a = engine.detect(rgb(root / "Geraldine_Chaplin/Geraldine_Chaplin_0001.jpg"))[0]
    same_b = engine.detect(rgb(root / "Geraldine_Chaplin/Geraldine_Chaplin_0003.jpg"))[0]
    other = engine.detect(rgb(root / "Vitali_Klitschko/Vitali_Klitschko_0003.jpg"))[0]
    vectors = engine.embed([same_a, same_b, other])
    assert vectors.shape == (3, 128)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = engine.similarity(vectors[0], vectors[1:])
    assert scores[0] >= 80 > scores[1]


def test_deepface_generic_path_embeds_offline(engine):
    """Any DeepFace model runs through DeepFaceEmbedder; Dlib's weights are here, so it proves the path."""
    embedder = DeepFaceEmbedder("Dlib")
    root = facedata_dir() / "lfw_tiny"
    faces = [
        engine.detect(rgb(root / p))[0]
        for p in ("Geraldine_Chaplin/Geraldine_Chaplin_0001.jpg", "Geraldine_Chaplin/Geraldine_Chaplin_0003.jpg",
                  "Vitali_Klitschko/Vitali_Klitschko_0003.jpg")
    ]
    vectors = embedder.embed([f.chip for f in faces])
    distances = cosine_distances(vectors[0], vectors[1:])
    assert distances[0] < distances[1]
    assert embedder.verification_threshold is not None and 0 < embedder.verification_threshold < 1


def test_age_and_gender_come_from_the_model(engine):
    root = facedata_dir() / "lfw_tiny"
    image = rgb(root / "Vitali_Klitschko/Vitali_Klitschko_0003.jpg")
    face = engine.detect(image)[0]
    found = engine.attributes(image, face, {"AgeRange", "Gender"})
    assert found["Gender"]["Value"] == "Male"
    assert 15 <= found["AgeRange"]["Low"] <= found["AgeRange"]["High"] <= 60
