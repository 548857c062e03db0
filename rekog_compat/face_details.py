"""Rekognition's face documents, built from what the engine measured and the store keeps.

FaceDetail (DetectFaces, IndexFaces, the stored-video results), BoundingBox, and the Face of a stored
face (IndexFaces' FaceRecords, every FaceMatches): one definition each, for the handlers and the
video analysis alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import DetectedFace, FaceEngine
from .store import StoredFace

# DetectionAttributes values -> FaceDetail members this engine computes with a real model (EMOTIONS once its
# model is installed: `rekog-compat models install face-api`; EYE_DIRECTION once Human's iris model is:
# `rekog-compat models install human-iris`). The rest (BEARD, EYEGLASSES, FACE_OCCLUDED, MUSTACHE,
# SUNGLASSES) have no model here and are left out (docs/compatibility.md).
ATTRIBUTE_MEMBERS = {
    "AGE_RANGE": "AgeRange",
    "GENDER": "Gender",
    "EYES_OPEN": "EyesOpen",
    "MOUTH_OPEN": "MouthOpen",
    "SMILE": "Smile",
    "EMOTIONS": "Emotions",
    "EYE_DIRECTION": "EyeDirection",
}


def bounding_box(face: DetectedFace) -> dict[str, float]:
    """A detected face's BoundingBox, as ratios of the image's width and height."""
    left, top, width, height = face.box
    return {"Width": width, "Height": height, "Left": left, "Top": top}


def requested_members(attributes: list[str] | None) -> tuple[set[str], bool]:
    """FaceDetail members asked for beyond DEFAULT, and whether all 30 landmarks are wanted."""
    asked = set(attributes or ["DEFAULT"])
    if "ALL" in asked:
        return set(ATTRIBUTE_MEMBERS.values()), True
    return {member for name, member in ATTRIBUTE_MEMBERS.items() if name in asked}, False


def face_detail(
    engine: FaceEngine, rgb: np.ndarray, face: DetectedFace, extra: set[str], all_landmarks: bool
) -> dict[str, Any]:
    """A FaceDetail: the DEFAULT members plus whichever extra attributes were asked for."""
    detail: dict[str, Any] = {"BoundingBox": bounding_box(face)}
    if extra:
        detail.update(engine.attributes(rgb, face, extra))
    detail["Landmarks"] = engine.landmarks(face, all_types=all_landmarks)
    detail["Pose"] = dict(face.pose)
    detail["Quality"] = dict(face.quality)
    detail["Confidence"] = face.confidence
    return detail


def face_document(face: StoredFace) -> dict[str, Any]:
    """Rekognition's Face structure for a stored face."""
    left, top, width, height = face.bounding_box
    document: dict[str, Any] = {
        "FaceId": face.face_id,
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "ImageId": face.image_id,
    }
    if face.external_image_id is not None:
        document["ExternalImageId"] = face.external_image_id
    document["Confidence"] = face.confidence
    document["IndexFacesModelVersion"] = face.index_model_version
    if face.user_id is not None:
        document["UserId"] = face.user_id
    return document
