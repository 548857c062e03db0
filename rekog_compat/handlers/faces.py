"""DetectFaces and CompareFaces: stateless face analysis."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import RequestContext
from ..engine import DetectedFace, FaceEngine
from ..errors import InvalidParameterException
from ..images import LoadedImage
from ..quality import quality_reasons

MAX_FACES_PER_IMAGE = 100
DEFAULT_SIMILARITY_THRESHOLD = 80.0

# DetectionAttributes values -> FaceDetail members this engine computes with a real model.
# The rest (BEARD, EMOTIONS, EYE_DIRECTION, EYEGLASSES, FACE_OCCLUDED, MUSTACHE,
# SUNGLASSES) have no model here and are left out (docs/compatibility.md).
ATTRIBUTE_MEMBERS = {
    "AGE_RANGE": "AgeRange",
    "GENDER": "Gender",
    "EYES_OPEN": "EyesOpen",
    "MOUTH_OPEN": "MouthOpen",
    "SMILE": "Smile",
}


def bounding_box(face: DetectedFace) -> dict[str, float]:
    left, top, width, height = face.box
    return {"Width": width, "Height": height, "Left": left, "Top": top}


def requested_members(attributes: list[str] | None) -> tuple[set[str], bool]:
    """FaceDetail members asked for beyond DEFAULT, and whether all 30 landmarks are wanted."""
    asked = set(attributes or ["DEFAULT"])
    if "ALL" in asked:
        return set(ATTRIBUTE_MEMBERS.values()), True
    return {member for name, member in ATTRIBUTE_MEMBERS.items() if name in asked}, False


def face_detail(
    engine: FaceEngine, image: LoadedImage, face: DetectedFace, extra: set[str], all_landmarks: bool
) -> dict[str, Any]:
    """A FaceDetail: the DEFAULT members plus whichever extra attributes were asked for."""
    detail: dict[str, Any] = {"BoundingBox": bounding_box(face)}
    if extra:
        detail.update(engine.attributes(image.rgb, face, extra))
    detail["Landmarks"] = engine.landmarks(face, all_types=all_landmarks)
    detail["Pose"] = dict(face.pose)
    detail["Quality"] = dict(face.quality)
    detail["Confidence"] = face.confidence
    return detail


def compared_face(engine: FaceEngine, face: DetectedFace) -> dict[str, Any]:
    """A ComparedFace (CompareFaces' target faces)."""
    return {
        "BoundingBox": bounding_box(face),
        "Confidence": face.confidence,
        "Landmarks": engine.landmarks(face),
        "Pose": dict(face.pose),
        "Quality": dict(face.quality),
    }


def detect_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engine = ctx.services.engine
    image = ctx.load_image(params["Image"])
    faces = engine.detect(image.rgb, max_faces=MAX_FACES_PER_IMAGE)
    extra, all_landmarks = requested_members(params.get("Attributes"))
    return {"FaceDetails": [face_detail(engine, image, face, extra, all_landmarks) for face in faces]}


def _passing(image: LoadedImage, faces: list[DetectedFace], level: str) -> list[DetectedFace]:
    return [f for f in faces if not quality_reasons(f, image.width, image.height, level)]


def compare_faces(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    engine = ctx.services.engine
    level = params.get("QualityFilter", "NONE")
    threshold = ctx.threshold(params, "SimilarityThreshold", DEFAULT_SIMILARITY_THRESHOLD)

    source = ctx.load_image(params["SourceImage"], "source")
    target = ctx.load_image(params["TargetImage"], "target")
    source_faces = _passing(source, engine.detect(source.rgb, max_faces=1), level)
    target_faces = _passing(target, engine.detect(target.rgb, max_faces=MAX_FACES_PER_IMAGE), level)
    if not source_faces or not target_faces:
        raise InvalidParameterException()

    source_face = source_faces[0]
    scores = engine.similarity(engine.embed([source_face])[0], engine.embed(target_faces))

    matches, unmatched = [], []
    for index in np.argsort(-scores, kind="stable"):
        face = compared_face(engine, target_faces[index])
        score = float(scores[index])
        if score >= threshold:
            matches.append({"Similarity": score, "Face": face})
        else:
            unmatched.append(face)
    return {
        "SourceImageFace": {"BoundingBox": bounding_box(source_face), "Confidence": source_face.confidence},
        "FaceMatches": matches,
        "UnmatchedFaces": unmatched,
    }
